// argon2 is deliberately slow (tens of milliseconds). Checks run through this pool: a few at a
// time, one at a time per key id, with bounded queues. Each key id has its own line, and the ids
// with work take turns for the slots, so a flood of wrong secrets for one key occupies at most one
// slot and its own line; other keys and cached verifications, which never come here, keep flowing.
// A line is served first come, first served, except that a check marked `priority` (a secret that
// has passed a check for this key before; see the verifier) goes ahead of every guess and is never
// refused for a full line: guesses cannot lock a key's holder out.
import { BusyError } from "../errors.js";
import type { Logger } from "../logger.js";

export interface Argon2PoolOptions {
  /** Checks running at once (argon2 runs on libuv's threads; more than the cores only queues there). */
  readonly maxConcurrent: number;
  /** Key ids waiting for a slot. */
  readonly maxQueued: number;
  /** Checks waiting behind the one running for the same key id. */
  readonly maxQueuedPerKey: number;
  /** Where "key under attack" and "pool full" warnings go. */
  readonly log: Logger;
  /** At most one warning per key id, and one "pool full" warning, per this many milliseconds; default one minute. */
  readonly warnIntervalMs?: number;
}

export interface Argon2PoolStats {
  /** Checks running now (slots taken). */
  readonly running: number;
  /** Checks waiting now: behind another for their key id, or for a slot. */
  readonly queued: number;
  /** Checks started since the pool was made. */
  readonly started: number;
  /** Checks refused with RESOURCE_EXHAUSTED because a line or the slots were full. */
  readonly refused: number;
  /** Checks that found several others for their key id already queued: guesses, almost surely. */
  readonly contended: number;
  /** "Key under attack" warnings logged. */
  readonly warnings: number;
}

export interface Argon2Pool {
  /** Runs `check` for `keyId` when its turn comes; throws BusyError when the queues are full (never for `priority`). */
  run<T>(keyId: string, check: () => Promise<T>, priority?: boolean): Promise<T>;
  /** Throws BusyError when `run` for `keyId` would: lets a flood be refused before any query. */
  admit(keyId: string): void;
  stats(): Argon2PoolStats;
}

// Different secrets for one key id at once are not how keys are used (one secret per key, two
// during a rotation's grace; concurrent checks of one secret are shared): this many already
// running or waiting for one id when another arrives means someone is guessing.
const ATTACK_DEPTH = 3;
// Key ids whose last warning is remembered (for the per-id interval); beyond, the oldest is forgotten.
const MAX_WARNED_KEYS = 10_000;

interface Line {
  running: boolean;
  /** Priority checks first, then guesses in arrival order. */
  readonly waiting: Array<{ readonly priority: boolean; readonly start: () => void }>;
  /** How many of `waiting` are not priority: what maxQueuedPerKey bounds. */
  guesses: number;
}

/** Creates an empty pool. */
export function createArgon2Pool(options: Argon2PoolOptions): Argon2Pool {
  const warnIntervalMs = options.warnIntervalMs ?? 60_000;
  let running = 0;
  // Lines waiting for a slot; a line holds at most one entry here, so ids take turns.
  const slotQueue: Array<() => void> = [];
  const prioritySlotQueue: Array<() => void> = [];
  const lines = new Map<string, Line>();
  const warnedAt = new Map<string, number>();
  let refused = 0;
  let contended = 0;
  let warnings = 0;
  let started = 0;
  // Checks waiting in their key's line (the slot queues know their own length).
  let waitingInLines = 0;

  const slot = (priority: boolean): Promise<void> => {
    if (running < options.maxConcurrent) {
      running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => (priority ? prioritySlotQueue : slotQueue).push(resolve));
  };
  const release = () => {
    const next = prioritySlotQueue.shift() ?? slotQueue.shift();
    if (next) next();
    else running--;
  };

  // A key's own line full means guesses for that key; the slots full means load, spread over keys.
  const lineFull = (line: Line | undefined) => line !== undefined && line.guesses >= options.maxQueuedPerKey;
  const slotsFull = () => running >= options.maxConcurrent && slotQueue.length >= options.maxQueued;

  /** Counts a guess and warns, at most once per key id per interval (never with the secret). */
  const suspect = (keyId: string, line: Line, refusedNow: boolean) => {
    if (!refusedNow && Number(line.running) + line.waiting.length < ATTACK_DEPTH) return;
    contended++;
    const now = performance.now();
    const last = warnedAt.get(keyId);
    if (last !== undefined && now - last < warnIntervalMs) return;
    // Re-set, so that Map order is the order of the last warning: the oldest goes first.
    warnedAt.delete(keyId);
    if (warnedAt.size >= MAX_WARNED_KEYS) warnedAt.delete(warnedAt.keys().next().value!);
    warnedAt.set(keyId, now);
    warnings++;
    options.log.warn("key under attack: many different secrets are being tried for one key id", {
      keyId,
      waiting: line.waiting.length,
      refused: refusedNow,
    });
  };

  // Every slot busy and every place in the queue taken: many keys need a check at once (such as
  // after a restart, when no secret is remembered), not an attack on any one of them.
  let saturationWarnedAt: number | undefined;
  const saturated = () => {
    const now = performance.now();
    if (saturationWarnedAt !== undefined && now - saturationWarnedAt < warnIntervalMs) return;
    saturationWarnedAt = now;
    options.log.warn(
      "argon2 pool full: refusing first verifications; if this lasts, raise APIKEYS_ARGON2_MAX_QUEUED or add replicas",
      { running, queued: slotQueue.length, refusedSoFar: refused },
    );
  };

  /** The BusyError for a check of `keyId` that `run` would refuse, or undefined. */
  const refusal = (keyId: string, line: Line | undefined): BusyError | undefined => {
    if (lineFull(line)) suspect(keyId, line!, true);
    else if (slotsFull()) saturated();
    else return undefined;
    refused++;
    return new BusyError("too many key checks in progress; retry shortly");
  };

  return {
    admit(keyId) {
      const error = refusal(keyId, lines.get(keyId));
      if (error) throw error;
    },
    run(keyId, check, priority = false) {
      let line = lines.get(keyId);
      if (!priority) {
        const error = refusal(keyId, line);
        if (error) return Promise.reject(error);
        if (line) suspect(keyId, line, false);
      }
      if (!line) {
        line = { running: false, waiting: [], guesses: 0 };
        lines.set(keyId, line);
      }
      const own = line;
      return new Promise((resolve, reject) => {
        const start = () => {
          own.running = true;
          slot(priority)
            .then(() => {
              started++;
              return check();
            })
            .then(resolve, reject)
            .finally(() => {
              release();
              own.running = false;
              const next = own.waiting.shift();
              if (next) {
                waitingInLines--;
                if (!next.priority) own.guesses--;
                next.start();
              } else if (lines.get(keyId) === own) lines.delete(keyId);
            });
        };
        if (!own.running) return start();
        waitingInLines++;
        if (!priority) {
          own.guesses++;
          return void own.waiting.push({ priority, start });
        }
        const firstGuess = own.waiting.findIndex((w) => !w.priority);
        own.waiting.splice(firstGuess < 0 ? own.waiting.length : firstGuess, 0, { priority, start });
      });
    },
    stats: () => ({
      running,
      queued: waitingInLines + prioritySlotQueue.length + slotQueue.length,
      started,
      refused,
      contended,
      warnings,
    }),
  };
}
