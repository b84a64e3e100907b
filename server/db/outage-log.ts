// While the database is unreachable every call that needs it fails the same way, and so does every
// tick of background work; the log says so once, when the first of them fails, and once when the
// database answers again, with how long it lasted and how many calls were answered UNAVAILABLE,
// instead of a line per call or per tick.
import { setTimeout as sleep } from "node:timers/promises";
import { sql } from "kysely";
import { isDatabaseUnreachable } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Db } from "./database.js";

/** Reports outages of the database as the calls see them. */
export interface OutageLog {
  /** Notes a call that failed with `err`: the first unreachable one starts an outage. */
  callFailed(err: unknown): void;
  /**
   * Notes background work that failed with `err`; true when the database is unreachable, which
   * the outage's own lines report, so the caller need not log it.
   */
  taskFailed(err: unknown): boolean;
  /** Stops watching for the end of an outage (at shutdown). */
  stop(): void;
}

export interface OutageLogOptions {
  /** How often a probe checks, during an outage only, whether the database answers again. */
  readonly probeMs?: number;
  /** Called with false when an outage starts and with true when it ends (readiness). */
  readonly onReachable?: (reachable: boolean) => void;
}

/** An OutageLog on `db` that probes during an outage to notice its end. */
export function createOutageLog(db: Db, log: Logger, { probeMs = 500, onReachable }: OutageLogOptions = {}): OutageLog {
  const abort = new AbortController();
  let outage: { since: Date; calls: number } | undefined;

  // Calls alone cannot end an outage: a cached verification succeeds without the database, and
  // without calls nobody would say that it is back.
  async function watch(current: { since: Date; calls: number }): Promise<void> {
    for (;;) {
      try {
        await sleep(probeMs, undefined, { signal: abort.signal, ref: false });
      } catch {
        return; // stopped
      }
      try {
        await sql`select 1`.execute(db);
        break;
      } catch {
        // still unreachable
      }
    }
    outage = undefined;
    onReachable?.(true);
    const until = new Date();
    log.warn("database reachable again", {
      since: current.since.toISOString(),
      until: until.toISOString(),
      downMs: until.getTime() - current.since.getTime(),
      failedCalls: current.calls,
    });
  }

  /** The outage in progress, started by `err` if none is. */
  function current(err: unknown): { since: Date; calls: number } {
    if (outage) return outage;
    const started = (outage = { since: new Date(), calls: 0 });
    log.warn("database unreachable: calls answer UNAVAILABLE until it is back", { since: started.since.toISOString(), error: err });
    onReachable?.(false);
    void watch(started);
    return started;
  }

  return {
    callFailed(err) {
      if (isDatabaseUnreachable(err)) current(err).calls++;
    },
    taskFailed(err) {
      if (!isDatabaseUnreachable(err)) return false;
      current(err);
      return true;
    },
    stop: () => abort.abort(),
  };
}
