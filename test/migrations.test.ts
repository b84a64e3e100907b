import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, type Db } from "../server/db/database.js";
import { migrateToLatest } from "../server/db/migrate.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";

let database: TestDatabase;
let db: Db;
beforeAll(async () => {
  database = await createTestDatabase();
  db = createDatabase(database.url);
});
afterAll(async () => {
  await db?.destroy();
  await database?.drop();
});

describe("migrations", () => {
  it("create every table on an empty database, and a second run is a no-op", async () => {
    const first = await migrateToLatest(db);
    expect(first.results?.map((r) => [r.migrationName, r.status])).toEqual([
      ["0001-initial", "Success"],
      ["0002-replicas", "Success"],
      ["0003-sessions", "Success"],
      ["0004-oidc-identities", "Success"],
    ]);
    const { rows } = await sql<{ schema: string }>`
      select string_agg(table_name || '.' || column_name || ':' || data_type, ',' order by table_name, column_name) as schema
      from information_schema.columns where table_schema = 'public'`.execute(db);
    const second = await migrateToLatest(db);
    expect(second.results).toEqual([]);
    const { rows: after } = await sql<{ schema: string }>`
      select string_agg(table_name || '.' || column_name || ':' || data_type, ',' order by table_name, column_name) as schema
      from information_schema.columns where table_schema = 'public'`.execute(db);
    expect(after[0]!.schema).toBe(rows[0]!.schema);
    for (const table of ["workspaces", "principals", "principal_tokens", "scopes", "api_keys", "legacy_keys", "audit_events", "replicas", "changes", "oidc_identities"]) {
      expect(rows[0]!.schema).toContain(`${table}.`);
    }
  });

  it("concurrent runs (several replicas starting together) do not fail", async () => {
    const other = await createTestDatabase();
    const dbs = [createDatabase(other.url), createDatabase(other.url), createDatabase(other.url)];
    try {
      const results = await Promise.all(dbs.map((d) => migrateToLatest(d)));
      // Each migration ran exactly once, whichever run applied it.
      const applied = results.flatMap((r) => r.results ?? []).filter((r) => r.status === "Success");
      expect(applied.map((r) => r.migrationName).sort()).toEqual(["0001-initial", "0002-replicas", "0003-sessions", "0004-oidc-identities"]);
    } finally {
      await Promise.all(dbs.map((d) => d.destroy()));
      await other.drop();
    }
  });
});
