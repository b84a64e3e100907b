// OpenID Connect identities: a person at a provider (issuer, subject) is one member or support
// principal here, created at their first sign-in; their role is updated from claims at each one.
import { sql, type Kysely } from "kysely";

// Migrations must not depend on the app's table types, which move on; hence Kysely<unknown>.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("oidc_identities")
    .addColumn("issuer", "text", (c) => c.notNull())
    .addColumn("subject", "text", (c) => c.notNull())
    .addColumn("principal_id", "text", (c) => c.notNull().unique().references("principals.id").onDelete("cascade"))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("last_sign_in_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("oidc_identities_pkey", ["issuer", "subject"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("oidc_identities").execute();
}
