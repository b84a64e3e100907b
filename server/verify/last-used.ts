// Last-used times are collected in memory and written in one statement per flush, so verification
// never writes per request, and a key used once is still recorded at the next flush.
import { recordLastUsed, type LastUses } from "../api-key/api-key.repository.js";
import type { Db } from "../db/database.js";
import type { OutageLog } from "../db/outage-log.js";
import type { Logger } from "../logger.js";
import { every } from "../periodic.js";

export interface LastUsedRecorder {
  record(table: keyof LastUses, id: string): void;
  /** Keys whose use waits for the next flush. */
  pending(): number;
  /** Writes what is buffered; called on a timer and at shutdown. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/** What one flush did: how many keys' times it wrote (or failed to), whether it worked, and how long it took. */
export interface LastUsedFlush {
  readonly keys: number;
  readonly ok: boolean;
  readonly ms: number;
}

/**
 * Starts a recorder that flushes every `intervalMs`; `outage` reports an unreachable database,
 * `onFlush` hears of every flush that had something to write.
 */
export function createLastUsedRecorder(db: Db, intervalMs: number, log: Logger, outage?: OutageLog, onFlush?: (flush: LastUsedFlush) => void): LastUsedRecorder {
  let pending = { api_keys: new Map<string, number>(), legacy_keys: new Map<string, number>() };
  const flush = async () => {
    const batch = pending;
    pending = { api_keys: new Map(), legacy_keys: new Map() };
    const keys = batch.api_keys.size + batch.legacy_keys.size;
    const started = performance.now();
    try {
      await recordLastUsed(db, batch);
      if (keys > 0) onFlush?.({ keys, ok: true, ms: performance.now() - started });
    } catch (error) {
      onFlush?.({ keys, ok: false, ms: performance.now() - started });
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
    pending: () => pending.api_keys.size + pending.legacy_keys.size,
    flush,
    stop: async () => {
      await timer.stop();
      await flush();
    },
  };
}
