// Replicas and changes: every server process registers itself with a heartbeat and the last
// change it has evicted (`confirmed_change`); every change to something a replica caches is a
// row in `changes`, announced with NOTIFY when its transaction commits (see server/replica).
import { sql, type Kysely } from "kysely";

// Migrations must not depend on the app's table types, which move on; hence Kysely<unknown>.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("replicas")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("started_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    // A replica whose heartbeat is older than a few intervals is no longer waited for.
    .addColumn("heartbeat_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    // Every change up to this id has been evicted from the replica's caches.
    .addColumn("confirmed_change", "bigint", (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .createTable("changes")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    // What to evict: an API key id, `legacy:<id>`, `principal:<id>`, or `scopes` (the catalog).
    .addColumn("subjects", sql`text[]`, (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ["changes", "replicas"]) {
    await db.schema.dropTable(table).execute();
  }
}
