// How a postmaster is stopped, whoever stops it: fast shutdown (SIGINT: disconnect clients,
// checkpoint, exit), then immediate shutdown (SIGQUIT) if it is still there after a while.

/** How long each step waits for the postmaster to go. */
export const STOP_STEP_MS = 30_000;
const STEPS = ["SIGINT", "SIGQUIT"] as const;

/** Sends each step's signal until `gone(ms)` says the postmaster went; false when it outlived both. */
export async function stopPostmaster(signal: (s: NodeJS.Signals) => void, gone: (ms: number) => Promise<boolean>): Promise<boolean> {
  for (const step of STEPS) {
    signal(step);
    if (await gone(STOP_STEP_MS)) return true;
  }
  return false;
}

/** stopPostmaster for an `exit` handler, where nothing asynchronous happens any more. */
export function stopPostmasterSync(signal: (s: NodeJS.Signals) => void, gone: (ms: number) => boolean): boolean {
  for (const step of STEPS) {
    signal(step);
    if (gone(STOP_STEP_MS)) return true;
  }
  return false;
}
