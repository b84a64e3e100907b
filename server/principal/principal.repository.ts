import type { Db } from "../db/database.js";
import type { PrincipalKind, Role } from "./principal.table.js";

/** The principal owning an active token (not a session), with the token's hash; undefined if none. */
export async function findActiveToken(db: Db, tokenId: string) {
  return db
    .selectFrom("principal_tokens as t")
    .innerJoin("principals as p", "p.id", "t.principal_id")
    .select(["t.hash", "t.expires_at", "t.session_method", "p.id", "p.kind", "p.workspace_id", "p.role", "p.name"])
    .where("t.id", "=", tokenId)
    .where("t.revoked_at", "is", null)
    .where("t.session_method", "is", null)
    .executeTakeFirst();
}

/** Inserts a principal. */
export async function insertPrincipal(
  db: Db,
  row: { id: string; kind: PrincipalKind; workspace_id: string | null; role: Role | null; name: string },
): Promise<void> {
  await db.insertInto("principals").values(row).execute();
}

/** Inserts a token hash for a principal. */
export async function insertPrincipalToken(db: Db, row: { id: string; principal_id: string; hash: string }): Promise<void> {
  await db.insertInto("principal_tokens").values(row).execute();
}

/** Lists principals, optionally of one workspace. */
export async function listPrincipals(db: Db, workspaceId?: string) {
  let query = db.selectFrom("principals").selectAll().orderBy("created_at").orderBy("id");
  if (workspaceId) query = query.where("workspace_id", "=", workspaceId);
  return query.execute();
}

/** Revokes every token and session of a principal; returns how many of each were revoked. */
export async function revokePrincipalTokens(db: Db, principalId: string): Promise<{ tokens: number; sessions: number }> {
  const rows = await db
    .updateTable("principal_tokens")
    .set({ revoked_at: new Date() })
    .where("principal_id", "=", principalId)
    .where("revoked_at", "is", null)
    .returning("session_method")
    .execute();
  const sessions = rows.filter((r) => r.session_method !== null).length;
  return { tokens: rows.length - sessions, sessions };
}

/** Display names of the given principals, by id (absent ids are left out). */
export async function findPrincipalNames(db: Db, ids: readonly string[]): Promise<Map<string, string>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const rows = await db.selectFrom("principals").select(["id", "name"]).where("id", "in", unique).execute();
  return new Map(rows.map((r) => [r.id, r.name]));
}
