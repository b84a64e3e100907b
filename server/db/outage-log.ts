// While the database is unreachable every call that needs it fails the same way; the log says so
// once, when the first call fails, and once when the database answers again, with how long it
// lasted and how many calls were answered UNAVAILABLE, instead of one error line per call.
import { setTimeout as sleep } from "node:timers/promises";
import { sql } from "kysely";
import { isDatabaseUnreachable } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Db } from "./database.js";

/** Reports outages of the database as the calls see them. */
export interface OutageLog {
  /** Notes a call that failed with `err`: the first unreachable one starts an outage. */
  callFailed(err: unknown): void;
  /** Stops watching for the end of an outage (at shutdown). */
  stop(): void;
}

/** An OutageLog on `db` that probes every `probeMs` during an outage to notice its end. */
export function createOutageLog(db: Db, log: Logger, probeMs = 500): OutageLog {
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
    const until = new Date();
    log.warn("database reachable again", {
      since: current.since.toISOString(),
      until: until.toISOString(),
      downMs: until.getTime() - current.since.getTime(),
      failedCalls: current.calls,
    });
  }

  return {
    callFailed(err) {
      if (!isDatabaseUnreachable(err)) return;
      if (outage) {
        outage.calls++;
        return;
      }
      outage = { since: new Date(), calls: 1 };
      log.warn("database unreachable: calls answer UNAVAILABLE until it is back", { since: outage.since.toISOString(), error: err });
      void watch(outage);
    },
    stop: () => abort.abort(),
  };
}
