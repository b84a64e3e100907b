// Concurrent misses for the same token share one check: a busy service whose cached token just
// expired, or a burst of first verifications of one key, costs one argon2 check, not one per call.

/** Runs `work` once for all concurrent callers with the same `key`. */
export function createSingleFlight<T>(): (key: string, work: () => Promise<T>) => Promise<T> {
  const inFlight = new Map<string, Promise<T>>();
  return (key, work) => {
    const running = inFlight.get(key);
    if (running) return running;
    const started = work().finally(() => inFlight.delete(key));
    inFlight.set(key, started);
    return started;
  };
}
