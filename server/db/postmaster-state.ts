// Who runs the embedded cluster in a data folder. Postgres's postmaster.pid names the postmaster
// and its port; our own owner file names the apikeys process that started it. A postmaster whose
// owner is gone (the server was killed, or a TypeScript loader killed it before it could stop
// postgres) is a leftover: it is stopped and the cluster started afresh, never silently reused,
// because nobody would ever stop it and its settings are those of an earlier run.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../logger.js";
import { stopPostmaster } from "./postmaster-stop.js";
import { isAlive } from "./process-alive.js";

const OWNER_FILE = "apikeys-owner.pid";
const POLL_MS = 100;

/** What a data folder's postmaster.pid and owner file say about its cluster. */
export type PostmasterState =
  | { readonly kind: "none" }
  /** Running for a live apikeys process: others may join it. */
  | { readonly kind: "owned"; readonly pid: number; readonly port: number; readonly ownerPid: number }
  /** Running, but the process that started it is gone. */
  | { readonly kind: "leftover"; readonly pid: number; readonly port: number }
  /** postmaster.pid names a process that is not running (a crash, a kill -9, a reboot), or one that is not this folder's postmaster. */
  | { readonly kind: "stale"; readonly pid: number; readonly reused: boolean };

/** Reads the state of the cluster in `dataDir` (the real folder, not a symlink to it). */
export async function readPostmasterState(dataDir: string): Promise<PostmasterState> {
  const lines = (await readFile(path.join(dataDir, "postmaster.pid"), "utf8").catch(() => "")).split("\n");
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!(pid > 0)) return { kind: "none" };
  if (!isAlive(pid)) return { kind: "stale", pid, reused: false };
  const ours = isPostmasterOf(pid, dataDir, Number(lines[2]));
  if (ours === "no") return { kind: "stale", pid, reused: true };
  const [ownerPid, ownersPostmaster] = (await readFile(path.join(dataDir, OWNER_FILE), "utf8").catch(() => "")).split(" ").map(Number);
  if (ownersPostmaster === pid && ownerPid && ownerPid !== process.pid && isAlive(ownerPid)) return { kind: "owned", pid, port, ownerPid };
  // Only a process known to be this folder's postmaster is ever signalled. When that cannot be told,
  // postmaster.pid stays too: postgres itself refuses to start beside a live postmaster, and says so.
  if (ours === "unsure") return { kind: "stale", pid, reused: false };
  return { kind: "leftover", pid, port };
}

/**
 * Records this process as the owner of the postmaster `postmasterPid` in `dataDir`. The file is
 * never removed: once either process is gone it no longer matches (see readPostmasterState).
 */
export async function recordOwner(dataDir: string, postmasterPid: number): Promise<void> {
  await writeFile(path.join(dataDir, OWNER_FILE), `${process.pid} ${postmasterPid}\n`);
}

/**
 * Makes `dataDir` ready for a postmaster of ours: a leftover one is stopped (fast shutdown, then
 * immediate), a stale postmaster.pid naming another program is removed (postgres itself would
 * refuse to start), and a crashed cluster is left for postgres to recover. Says so in one line.
 */
export async function clearLeftoverPostmaster(dataDir: string, log: Logger): Promise<void> {
  const state = await readPostmasterState(dataDir);
  if (state.kind === "leftover") {
    log.warn("found the embedded Postgres of an earlier apikeys run still running, with nobody to stop it: stopping it, then starting it afresh", {
      dataDir, pid: state.pid, port: state.port,
    });
    if (!(await stopPostmaster((signal) => signalIfAlive(state.pid, signal), (ms) => untilGone(state.pid, dataDir, ms)))) {
      throw new Error(`the leftover embedded Postgres (pid ${state.pid}) in ${dataDir} did not stop; stop it yourself, then start again`);
    }
  } else if (state.kind === "stale") {
    log.warn(
      "the embedded Postgres did not stop cleanly last time (its postmaster.pid names a process that is gone): starting it, and Postgres recovers its data from the write-ahead log",
      { dataDir, pid: state.pid },
    );
    if (state.reused) await rm(path.join(dataDir, "postmaster.pid"), { force: true });
  }
}

/**
 * Blocks (this runs in an `exit` handler, where nothing asynchronous happens any more) until the
 * postmaster has removed its postmaster.pid, the last thing it does when it stops, or `ms` passed.
 */
export function waitForPostmasterExitSync(dataDir: string, ms: number): boolean {
  const file = path.join(dataDir, "postmaster.pid");
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + ms;
  while (existsSync(file)) {
    if (Date.now() > deadline) return false;
    Atomics.wait(sleeper, 0, 0, 20);
  }
  return true;
}

// A postmaster that is not our child is signalled by pid; one that is already gone needs nothing.
function signalIfAlive(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

// Waits for a postmaster that is not our child to go (its pid gone, or its postmaster.pid removed).
async function untilGone(pid: number, dataDir: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isAlive(pid) || !existsSync(path.join(dataDir, "postmaster.pid"))) return true;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return false;
}

// After a reboot or in a container, a stale postmaster.pid may name a pid another program now has,
// possibly another cluster's postmaster. Where /proc tells (Linux), the process is this folder's
// postmaster only if it runs with `-D <this folder>` (as startPostmaster spawns it) and started
// when postmaster.pid says. "unsure": no /proc, or the start times differ (a clock set after the
// postmaster started does that too), so its postmaster.pid must not be removed either.
function isPostmasterOf(pid: number, dataDir: string, startedAt: number): "yes" | "no" | "unsure" {
  let args: string[];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return existsSync("/proc/self") ? "no" : "unsure"; // gone meanwhile, or no /proc
  }
  const folder = args[args.indexOf("-D") + 1];
  if (!args.includes("-D") || !folder || !path.isAbsolute(folder) || realPath(folder) !== realPath(dataDir)) return "no";
  const started = processStartSeconds(pid);
  if (started === undefined || !(startedAt > 0)) return "yes";
  return Math.abs(started - startedAt) <= START_SLACK_S ? "yes" : "unsure";
}

// postmaster.pid's start time is written a moment after the process starts, and /proc's boot time
// is rounded to the second: a few seconds apart is the same process.
const START_SLACK_S = 10;

// When process `pid` started, in seconds since the epoch (boot time + its start in clock ticks; Linux's
// user-visible tick is 100 Hz on every architecture Node runs on).
function processStartSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const ticks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    const bootTime = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1]);
    return ticks >= 0 && bootTime > 0 ? bootTime + ticks / 100 : undefined;
  } catch {
    return undefined;
  }
}

function realPath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}
