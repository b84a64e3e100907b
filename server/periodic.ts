// Background work on a timer, never two runs at once. While the database is slow or a table is
// locked, a run still waiting makes the next ticks skip: otherwise every tick would hold one more
// pool connection, and the pool would run dry for the requests it exists for.

/** Runs `task` every `intervalMs` unless its previous run is still going. `task` handles its own errors. */
export function every(intervalMs: number, task: () => Promise<void>): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void task().finally(() => {
      running = false;
    });
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
