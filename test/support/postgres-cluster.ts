// A Postgres cluster of its own that a test (or a benchmark) stops, restarts and kills, as an
// operator or a crash would: initialised by startEmbeddedPostgres, then run with pg_ctl from the
// same binaries on a fixed port, so that clients reconnect to the same URL. No vitest imports:
// bench/ uses it too.
import { execFile } from "node:child_process";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { ensurePostgresUser, locateBinaries } from "../../server/db/embedded-postgres-files.js";
import { startEmbeddedPostgres } from "../../server/db/embedded-postgres.js";
import { createLogger } from "../../server/logger.js";

const run = promisify(execFile);

/** How Postgres goes down: `pg_ctl -m fast`, `pg_ctl -m immediate`, or SIGKILL to the postmaster. */
export type RestartMode = "fast" | "immediate" | "kill";

/** A running cluster under the caller's control. */
export interface PostgresCluster {
  /** The `apikeys` database as the superuser; the same across restarts. */
  readonly url: string;
  /** Takes Postgres down as `mode` says and starts it again; resolves once it accepts connections. */
  restart(mode: RestartMode): Promise<void>;
  /** Fast shutdown; the cluster stays down until start(). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the cluster (immediate) and removes its files. */
  destroy(): Promise<void>;
}

const START_TIMEOUT_S = "60";
const KILLED_START_TIMEOUT_MS = 60_000;

/** Initialises a fresh cluster in a temporary folder and starts it. */
export async function startPostgresCluster(): Promise<PostgresCluster> {
  const root = await mkdtemp(path.join(tmpdir(), "apikeys-pgctl-"));
  await chmod(root, 0o755); // as root, postgres runs as another user that must reach the cluster
  // startEmbeddedPostgres initialises the cluster, its password and the apikeys database.
  const embedded = await startEmbeddedPostgres({ dataDir: path.join(root, "postgres"), log: createLogger("error") });
  const { url, dataDir } = embedded;
  await embedded.stop();
  const runAs = process.getuid?.() === 0 ? await ensurePostgresUser() : undefined;
  const native = await locateBinaries(runAs);
  const port = new URL(url).port;
  const logFile = path.join(dataDir, "pg_ctl.log");
  // The same options startEmbeddedPostgres gives postgres; pg_ctl restart reuses them (postmaster.opts).
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c lc_messages=C`;
  const pgCtl = (...args: string[]) =>
    run(path.join(native, "bin", "pg_ctl"), [...args, "-D", dataDir, "-l", logFile], {
      ...runAs,
      cwd: native,
      env: { ...process.env, LC_ALL: "C" },
    });
  const start = async () => void (await pgCtl("start", "-w", "-t", START_TIMEOUT_S, "-o", options));

  async function kill(): Promise<void> {
    const pid = Number((await readFile(path.join(dataDir, "postmaster.pid"), "utf8")).split("\n")[0]);
    process.kill(pid, "SIGKILL");
    // Its backends notice that the postmaster is gone and exit; until they all have, a new
    // postmaster refuses to start ("pre-existing shared memory block is still in use").
    const deadline = Date.now() + KILLED_START_TIMEOUT_MS;
    for (;;) {
      try {
        return await start();
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(100);
      }
    }
  }

  await start();
  return {
    url,
    restart: (mode) => (mode === "kill" ? kill() : pgCtl("restart", "-m", mode, "-w", "-t", START_TIMEOUT_S).then(() => {})),
    stop: async () => void (await pgCtl("stop", "-m", "fast", "-w")),
    start,
    destroy: async () => {
      await pgCtl("stop", "-m", "immediate", "-w").catch(() => {}); // already stopped is fine
      await rm(root, { recursive: true, force: true });
      // A cluster the postgres user could not reach under `root` was relocated (see prepareDataDir).
      if (!dataDir.startsWith(root)) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
