// Initial schema: workspaces, principals and their tokens, API keys, the legacy account keys,
// the scope catalog and audit events. Secrets are stored only as argon2id PHC strings.
import { sql, type Kysely } from "kysely";

// Migrations must not depend on the app's table types, which move on; hence Kysely<unknown>.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("workspaces")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable("principals")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("kind", "text", (c) => c.notNull().check(sql`kind in ('member', 'service', 'support')`))
    // Members always have a workspace; services may be limited to one; support never has one.
    .addColumn("workspace_id", "text", (c) => c.references("workspaces.id"))
    .addColumn("role", "text", (c) => c.check(sql`role in ('owner', 'admin', 'member')`))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint(
      "principal_shape",
      sql`(kind = 'member' and workspace_id is not null and role is not null)
        or (kind = 'service' and role is null)
        or (kind = 'support' and workspace_id is null and role is null)`,
    )
    .execute();

  await db.schema
    .createTable("principal_tokens")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("principal_id", "text", (c) => c.notNull().references("principals.id").onDelete("cascade"))
    .addColumn("hash", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("revoked_at", "timestamptz")
    .execute();

  await db.schema
    .createTable("scopes")
    .addColumn("name", "text", (c) => c.primaryKey())
    .addColumn("description", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable("api_keys")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("workspace_id", "text", (c) => c.notNull().references("workspaces.id"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("access", "text", (c) => c.notNull().check(sql`access in ('full', 'custom')`))
    // Granted scopes of CUSTOM keys; FULL keys hold none and pass the whole catalog.
    .addColumn("scopes", sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn("hash", "text", (c) => c.notNull())
    .addColumn("hint", "text", (c) => c.notNull())
    // The secret replaced by the last rotation, valid until previous_expires_at.
    .addColumn("previous_hash", "text")
    .addColumn("previous_expires_at", "timestamptz")
    // Bumped by every change: the etag, and the generation that keeps stale state out of caches.
    .addColumn("version", "integer", (c) => c.notNull().defaultTo(1))
    .addColumn("created_by", "text", (c) => c.notNull().references("principals.id"))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("last_used_at", "timestamptz")
    // Deleted keys stay so that verification can answer "revoked" and audit events keep their key.
    .addColumn("deleted_at", "timestamptz")
    .execute();
  await db.schema
    .createIndex("api_keys_workspace_listing")
    .on("api_keys")
    .columns(["workspace_id", "created_at desc", "id desc"])
    .where(sql.ref("deleted_at"), "is", null)
    .execute();

  await db.schema
    .createTable("legacy_keys")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("workspace_id", "text", (c) => c.notNull().references("workspaces.id"))
    // First and last characters of the old secret: shown to support, and narrows verification.
    .addColumn("hint", "text", (c) => c.notNull())
    .addColumn("hash", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("last_used_at", "timestamptz")
    .addColumn("revoked_at", "timestamptz")
    .execute();
  // At most one active legacy key per workspace.
  await db.schema
    .createIndex("legacy_keys_one_active")
    .on("legacy_keys")
    .column("workspace_id")
    .unique()
    .where(sql.ref("revoked_at"), "is", null)
    .execute();
  await db.schema.createIndex("legacy_keys_hint").on("legacy_keys").column("hint").execute();

  await db.schema
    .createTable("audit_events")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("workspace_id", "text", (c) => c.notNull().references("workspaces.id"))
    .addColumn("actor_id", "text", (c) => c.notNull())
    .addColumn("actor_name", "text", (c) => c.notNull())
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("api_key_id", "text", (c) => c.notNull())
    // [{field, old, new}] with JSON-encoded values; never a secret or a hash.
    .addColumn("changes", "jsonb", (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex("audit_events_workspace")
    .on("audit_events")
    .columns(["workspace_id", "id desc"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ["audit_events", "legacy_keys", "api_keys", "scopes", "principal_tokens", "principals", "workspaces"]) {
    await db.schema.dropTable(table).execute();
  }
}
