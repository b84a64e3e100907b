// Starts one embedded Postgres for the whole test run, unless DATABASE_URL names a server to use
// instead, and hands its superuser URL to the tests (`inject("databaseAdminUrl")`). Tests never
// use that database directly: createTestDatabase() makes a fresh one per test file. It also builds
// the server bundle and the page first, so that tests never run or serve a stale one.
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { buildServer } from "../server/build.js";
import { startEmbeddedPostgres } from "../server/db/embedded-postgres.js";
import { createLogger } from "../server/logger.js";
import { buildWeb } from "../web/build.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** A URL on the test server for a user that may create and drop databases. */
    databaseAdminUrl: string;
  }
}

/** Vitest global setup: returns the teardown. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await buildServer();
  await buildWeb(); // skipped when web/dist was built from the same sources
  const given = process.env.DATABASE_URL;
  if (given) {
    project.provide("databaseAdminUrl", given);
    return async () => {};
  }
  const root = await mkdtemp(path.join(tmpdir(), "apikeys-test-"));
  // mkdtemp makes the folder 0700; as root, postgres runs as another user that must reach the
  // cluster inside it (otherwise startEmbeddedPostgres relocates it to /var/lib/apikeys).
  await chmod(root, 0o755);
  const postgres = await startEmbeddedPostgres({
    dataDir: path.join(root, "postgres"),
    log: createLogger(process.env.LOG_LEVEL === "debug" ? "debug" : "warn"),
  });
  project.provide("databaseAdminUrl", postgres.url);
  return async () => {
    await postgres.stop();
    await rm(root, { recursive: true, force: true });
  };
}
