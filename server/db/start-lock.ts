// A lock file around starting the embedded cluster. A server and a CLI command started at the same
// moment (`npm start & bin/apikeys bootstrap`) would otherwise both find no running cluster and
// both create one in the same folder; with the lock, the second waits and then joins the first's.
import { mkdir, open, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { isAlive } from "./process-alive.js";

const POLL_MS = 100;

/** Takes the lock in `dir`, waiting while another live process holds it; returns its release. */
export async function acquireStartLock(dir: string, timeoutMs = 120_000): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, "postgres-start.lock");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(file, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const holder = Number(await readFile(file, "utf8").catch(() => ""));
    // A holder that died (killed mid-start) leaves its lock behind; it no longer counts.
    if (holder > 0 && !isAlive(holder)) await rm(file, { force: true });
    else if (Date.now() > deadline) throw new Error(`another apikeys process (pid ${holder}) is still starting the embedded Postgres; ${file} is its lock`);
    else await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
