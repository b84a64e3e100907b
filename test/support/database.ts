// A fresh, empty database per test file on the run's shared server (see test/global-setup.ts).
// Migrating it is the caller's job: `migrateToLatest(createDatabase(db.url))`.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

/** A database made for one test file. */
export interface TestDatabase {
  readonly url: string;
  /** Drops the database, closing any connections still open to it. */
  drop(): Promise<void>;
}

/** Creates a uniquely named empty database; call in beforeAll and drop it in afterAll. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject("databaseAdminUrl");
  // Unique across workers (pid) and across calls in one worker (random).
  const name = `test_${process.pid}_${randomBytes(4).toString("hex")}`;
  await asAdmin(adminUrl, (client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () =>
      asAdmin(adminUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`),
      ),
  };
}

async function asAdmin(url: string, work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}
