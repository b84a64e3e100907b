// Which Postgres to use: DATABASE_URL when set; otherwise the embedded cluster in the data folder,
// joined if a server already runs it (so CLI commands work next to `npm start`), else started.
import path from "node:path";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { findRunningEmbeddedPostgres, startEmbeddedPostgres } from "./embedded-postgres.js";
import { acquireStartLock } from "./start-lock.js";

export interface ResolvedDatabase {
  readonly url: string;
  /** Stops the embedded cluster if this process started it; otherwise does nothing. */
  stop(): Promise<void>;
}

/**
 * Resolves the database for `config`, starting the embedded Postgres when needed. A server
 * (`shortLived` false) lets others join its cluster at once. A CLI command that had to start the
 * cluster stops it when done, so it keeps the start lock until then: a server starting meanwhile
 * waits for that, then starts the cluster itself, instead of joining one about to stop.
 */
export async function resolveDatabaseUrl(config: Config, log: Logger, shortLived = false): Promise<ResolvedDatabase> {
  if (config.databaseUrl) return { url: config.databaseUrl, stop: async () => {} };
  const dataDir = path.resolve(config.dataDir, "postgres");
  const release = await acquireStartLock(path.resolve(config.dataDir));
  let holdUntilStop = false;
  try {
    const running = await findRunningEmbeddedPostgres(dataDir);
    if (running) {
      log.debug("using the embedded Postgres another apikeys process started", { dataDir });
      return { url: running, stop: async () => {} };
    }
    const embedded = await startEmbeddedPostgres({ dataDir, log });
    log.info("DATABASE_URL is not set: using the embedded Postgres; its data survives restarts", { dataDir: embedded.dataDir });
    if (!shortLived) return embedded;
    holdUntilStop = true;
    return {
      url: embedded.url,
      stop: async () => {
        try {
          await embedded.stop();
        } finally {
          await release();
        }
      },
    };
  } finally {
    if (!holdUntilStop) await release();
  }
}
