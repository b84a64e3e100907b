// A fresh, empty database per test file on the run's shared server (see test/global-setup.ts).
// Migrating it is the caller's job: `migrateToLatest(createDatabase(db.url))`.
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import { inject } from "vitest";
import type { Db } from "../../server/db/database.js";

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

/** A session of its own holding ACCESS EXCLUSIVE locks, so that any query on those tables waits. */
export interface TableLock {
  /** How many sessions of the database are waiting for a lock now. */
  waiting(): Promise<number>;
  /** Ends the session, and with it the transaction and its locks. Safe to call again. */
  release(): Promise<void>;
}

/** Locks `tables` of the database at `url` until `release()`. */
export async function lockTables(url: string, tables: readonly string[]): Promise<TableLock> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await client.end();
  };
  try {
    await client.query("BEGIN");
    await client.query(`LOCK TABLE ${tables.map((t) => client.escapeIdentifier(t)).join(", ")} IN ACCESS EXCLUSIVE MODE`);
  } catch (err) {
    await release();
    throw err;
  }
  const waiting = async () => {
    const { rows } = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    return rows[0]!.n;
  };
  return { waiting, release };
}

/** The highest change replica `replicaId` has confirmed in its row. */
export async function confirmedChange(db: Db, replicaId: string): Promise<bigint> {
  const { rows } = await sql<{ c: string }>`select confirmed_change::text as c from replicas where id = ${replicaId}`.execute(db);
  return BigInt(rows[0]!.c);
}
