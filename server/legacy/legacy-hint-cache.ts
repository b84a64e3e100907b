// The hints of all legacy keys, held in memory and reloaded on a timer, so that a token which is
// neither in our format nor a legacy key's shape is answered without a database query.
import type { Db } from "../db/database.js";
import type { OutageLog } from "../db/outage-log.js";
import type { Logger } from "../logger.js";
import { every } from "../periodic.js";
import { listLegacyHints } from "./legacy-key.repository.js";

export interface LegacyHintCache {
  has(hint: string): boolean;
  /** Stops reloading, once a reload in progress has finished. */
  stop(): Promise<void>;
}

/** Loads the hints and keeps reloading them every `intervalMs`; `outage` reports an unreachable database. */
export async function startLegacyHintCache(db: Db, intervalMs: number, log: Logger, outage?: OutageLog): Promise<LegacyHintCache> {
  let hints = new Set(await listLegacyHints(db));
  const reload = async () => {
    try {
      hints = new Set(await listLegacyHints(db));
    } catch (error) {
      if (!outage?.taskFailed(error)) log.warn("could not reload legacy key hints", { error });
    }
  };
  const timer = every(intervalMs, reload);
  return { has: (hint) => hints.has(hint), stop: timer.stop };
}
