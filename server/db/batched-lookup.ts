// Rows looked up by id for many concurrent calls, a few queries at a time: ids asked for while
// every query slot is busy wait, and go together in the next query (`id = any($1)`). After a
// restart every active key misses the cache at once, and one query per key cost about as much CPU
// (in node and in Postgres, about 330 µs a key) as the rest of a first verification; in batches it
// costs a tenth of that. An idle server still sends each id at once, on its own.
// An id never joins a query that was already sent: a caller that took a cache generation before
// asking reads the row after it, exactly as with a query of its own. (DataLoader batches per tick
// but does not bound the queries in flight, so under load it sends many small ones at once.)

export interface BatchedLookupOptions {
  /** Queries in flight at most; more ids wait for the next free one. */
  readonly maxInFlight: number;
  /** Ids in one query at most. */
  readonly maxBatch: number;
}

interface Waiter<V> {
  readonly resolve: (row: V | undefined) => void;
  readonly reject: (error: unknown) => void;
}

/** A lookup by id that `fetch`es the ids asked for meanwhile in one call; undefined for an id it did not return. */
export function createBatchedLookup<V>(
  fetch: (ids: string[]) => Promise<ReadonlyMap<string, V>>,
  options: BatchedLookupOptions,
): (id: string) => Promise<V | undefined> {
  let pending = new Map<string, Array<Waiter<V>>>();
  let inFlight = 0;
  let scheduled = false;

  const send = (batch: Map<string, Array<Waiter<V>>>) => {
    inFlight++;
    Promise.resolve()
      .then(() => fetch([...batch.keys()]))
      .then(
        (rows) => {
          for (const [id, waiters] of batch) for (const w of waiters) w.resolve(rows.get(id));
        },
        (error: unknown) => {
          for (const waiters of batch.values()) for (const w of waiters) w.reject(error);
        },
      )
      .finally(() => {
        inFlight--;
        schedule();
      });
  };

  const flush = () => {
    scheduled = false;
    while (inFlight < options.maxInFlight && pending.size > 0) {
      if (pending.size <= options.maxBatch) {
        const batch = pending;
        pending = new Map();
        send(batch);
        continue;
      }
      const batch = new Map<string, Array<Waiter<V>>>();
      for (const [id, waiters] of pending) {
        if (batch.size === options.maxBatch) break;
        batch.set(id, waiters);
        pending.delete(id);
      }
      send(batch);
    }
  };

  // Sent after the current turn of the event loop, so that the calls that arrived together (one
  // read of a connection carries many) share a query even when a slot is free.
  const schedule = () => {
    if (scheduled || pending.size === 0 || inFlight >= options.maxInFlight) return;
    scheduled = true;
    setImmediate(flush);
  };

  return (id) =>
    new Promise<V | undefined>((resolve, reject) => {
      const waiters = pending.get(id);
      if (waiters) waiters.push({ resolve, reject });
      else pending.set(id, [{ resolve, reject }]);
      schedule();
    });
}
