// Background work on a timer, never two runs at once. While the database is slow or a table is
// locked, a run still waiting makes the next ticks skip: otherwise every tick would hold one more
// pool connection, and the pool would run dry for the requests it exists for.

export interface Periodic {
  /** No more runs; resolves once a run in progress has finished, so that its work is not cut off. */
  stop(): Promise<void>;
}

/** Runs `task` every `intervalMs` unless its previous run is still going. `task` handles its own errors. */
export function every(intervalMs: number, task: () => Promise<void>): Periodic {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= task().finally(() => {
      running = undefined;
    });
  }, intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
