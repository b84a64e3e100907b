// SIGINT and SIGTERM for `apikeys serve`: the first asks for a graceful stop, a later one for an
// immediate one. A single Ctrl-C often arrives twice: the terminal signals its whole foreground
// process group, and `npm start` forwards what it receives to the server as well. Copies that
// arrive within DUPLICATE_MS of the first count as that one, so `npm start` drains as well. The
// window is wide because npm, like anything else on a loaded machine, can take a while to pass its
// copy on; a user who means "now" presses Ctrl-C again a few seconds later.
import { constants } from "node:os";

export const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** A later signal within this long of the first is taken for a copy of it. */
export const DUPLICATE_MS = 3000;

/** Handlers for the first stop signal and for one sent again later. */
export interface StopSignalHandlers {
  graceful(signal: StopSignal): void;
  immediate(signal: StopSignal): void;
}

/** Installs the handlers for the rest of the process's life. */
export function onStopSignals(handlers: StopSignalHandlers): void {
  let first: number | undefined;
  let forced = false;
  const handle = (signal: StopSignal) => {
    const now = performance.now();
    if (first === undefined) {
      first = now;
      handlers.graceful(signal);
    } else if (!forced && now - first >= DUPLICATE_MS) {
      forced = true;
      handlers.immediate(signal);
    }
  };
  for (const signal of STOP_SIGNALS) process.on(signal, handle);
}

/** The exit code of a process ended by `signal`, by the shell's convention (128 + its number). */
export function signalExitCode(signal: StopSignal): number {
  return 128 + constants.signals[signal];
}
