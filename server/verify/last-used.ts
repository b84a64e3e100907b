// Last-used times are collected in memory and written in one statement per flush, so verification
// never writes per request, and a key used once is still recorded at the next flush.
import { recordLastUsed, type LastUses } from "../api-key/api-key.repository.js";
import type { Db } from "../db/database.js";
import type { OutageLog } from "../db/outage-log.js";
import type { Logger } from "../logger.js";
import { every } from "../periodic.js";

export interface LastUsedRecorder {
  record(table: keyof LastUses, id: string): void;
  /** Writes what is buffered; called on a timer and at shutdown. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a recorder that flushes every `intervalMs`; `outage` reports an unreachable database. */
export function createLastUsedRecorder(db: Db, intervalMs: number, log: Logger, outage?: OutageLog): LastUsedRecorder {
  let pending = { api_keys: new Map<string, number>(), legacy_keys: new Map<string, number>() };
  const flush = async () => {
    const batch = pending;
    pending = { api_keys: new Map(), legacy_keys: new Map() };
    try {
      await recordLastUsed(db, batch);
    } catch (error) {
      if (!outage?.taskFailed(error)) log.warn("could not record last-used times; they will be retried", { error });
      for (const table of ["api_keys", "legacy_keys"] as const) {
        for (const [id, at] of batch[table]) if (!pending[table].has(id)) pending[table].set(id, at);
      }
    }
  };
  const timer = every(intervalMs, flush);
  return {
    // Milliseconds since the epoch: a Date per verification would be garbage on the hot path.
    record: (table, id) => void pending[table].set(id, Date.now()),
    flush,
    stop: async () => {
      await timer.stop();
      await flush();
    },
  };
}
