// argon2 is deliberately slow (tens of milliseconds). Checks run through this pool: a few at a
// time, one at a time per key id, with bounded queues. A flood of wrong secrets for one key then
// occupies one slot and queues a handful of requests; the rest are refused at once with
// RESOURCE_EXHAUSTED, and cached verifications, which never come here, keep flowing.
import { BusyError } from "../errors.js";

export interface Argon2PoolOptions {
  /** Checks running at once (argon2 runs on libuv's threads; more than the cores only queues there). */
  readonly maxConcurrent: number;
  /** Checks waiting for a slot, over all keys. */
  readonly maxQueued: number;
  /** Checks waiting behind the one running for the same key id. */
  readonly maxQueuedPerKey: number;
}

export interface Argon2Pool {
  /** Runs `check` for `keyId` when its turn comes; throws BusyError when the queues are full. */
  run<T>(keyId: string, check: () => Promise<T>): Promise<T>;
  /** Throws BusyError when `run` for `keyId` would: lets a flood be refused before any query. */
  admit(keyId: string): void;
}

/** Creates an empty pool. */
export function createArgon2Pool(options: Argon2PoolOptions): Argon2Pool {
  let running = 0;
  let queued = 0;
  const waiting: Array<() => void> = [];
  // Per key: how many checks are running or waiting, and the tail of its chain.
  const perKey = new Map<string, { count: number; tail: Promise<unknown> }>();

  const slot = (): Promise<void> => {
    if (running < options.maxConcurrent) {
      running++;
      return Promise.resolve();
    }
    queued++;
    return new Promise((resolve) =>
      waiting.push(() => {
        queued--;
        running++;
        resolve();
      }),
    );
  };
  const release = () => {
    running--;
    waiting.shift()?.();
  };

  const full = (keyId: string) => {
    const chain = perKey.get(keyId);
    return (chain !== undefined && chain.count > options.maxQueuedPerKey) || (running >= options.maxConcurrent && queued >= options.maxQueued);
  };
  const busy = () => new BusyError("too many key checks in progress; retry shortly");

  return {
    admit(keyId) {
      if (full(keyId)) throw busy();
    },
    run(keyId, check) {
      const chain = perKey.get(keyId);
      if (full(keyId)) return Promise.reject(busy());
      const entry = chain ?? { count: 0, tail: Promise.resolve() };
      entry.count++;
      perKey.set(keyId, entry);
      const result = entry.tail.then(async () => {
        await slot();
        try {
          return await check();
        } finally {
          release();
        }
      });
      entry.tail = result.catch(() => {}).finally(() => {
        if (--entry.count === 0 && perKey.get(keyId) === entry) perKey.delete(keyId);
      });
      return result;
    },
  };
}
