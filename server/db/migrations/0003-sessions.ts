// Browser sessions are principal tokens of a second kind: the same key format (prefix `aks`), the
// same argon2id hash, the same cache and the same revocation push, plus an expiry, how the
// session was started, and the principal token it was signed in with (which must stay active).
// `apikeys tokens revoke --principal` therefore ends a principal's sessions too.
import { sql, type Kysely } from "kysely";

// Migrations must not depend on the app's table types, which move on; hence Kysely<unknown>.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("principal_tokens")
    // Null for a principal token; 'token' or 'oidc' for a session.
    .addColumn("session_method", "text", (c) => c.check(sql`session_method in ('token', 'oidc')`))
    .addColumn("expires_at", "timestamptz")
    .addColumn("signed_in_with", "text", (c) => c.references("principal_tokens.id").onDelete("cascade"))
    .execute();
  await db.schema
    .alterTable("principal_tokens")
    .addCheckConstraint(
      "principal_token_shape",
      sql`(session_method is null and expires_at is null and signed_in_with is null)
        or (session_method is not null and expires_at is not null)`,
    )
    .execute();
  // Revoking a principal's tokens, and dropping its ended sessions at sign-in, look tokens up by principal.
  await db.schema.createIndex("principal_tokens_principal").on("principal_tokens").column("principal_id").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.deleteFrom("principal_tokens" as never).where(sql.ref("session_method"), "is not", null).execute();
  await db.schema.dropIndex("principal_tokens_principal").execute();
  await db.schema.alterTable("principal_tokens").dropConstraint("principal_token_shape").execute();
  for (const column of ["signed_in_with", "expires_at", "session_method"]) {
    await db.schema.alterTable("principal_tokens").dropColumn(column).execute();
  }
}
