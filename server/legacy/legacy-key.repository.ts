import type { Db, Tx } from "../db/database.js";
import type { LegacyKeyRow } from "./legacy-key.table.js";

/** Every legacy key with this hint, active ones first; revoked ones too, to report revocation. */
export async function findLegacyKeysByHint(db: Db, hint: string): Promise<LegacyKeyRow[]> {
  return db
    .selectFrom("legacy_keys")
    .selectAll()
    .where("hint", "=", hint)
    .orderBy((eb) => eb("revoked_at", "is", null), "desc")
    .execute();
}

/** Hints of all legacy keys: the in-memory gate that keeps other tokens off the database. */
export async function listLegacyHints(db: Db): Promise<string[]> {
  const rows = await db.selectFrom("legacy_keys").select("hint").distinct().execute();
  return rows.map((r) => r.hint);
}

/** The workspace's legacy key: the active one, else the most recently revoked. */
export async function findLegacyKeyOfWorkspace(db: Db | Tx, workspaceId: string): Promise<LegacyKeyRow | undefined> {
  return db
    .selectFrom("legacy_keys")
    .selectAll()
    .where("workspace_id", "=", workspaceId)
    .orderBy((eb) => eb("revoked_at", "is", null), "desc")
    .orderBy("created_at", "desc")
    .limit(1)
    .executeTakeFirst();
}

/** Inserts a legacy key. */
export async function insertLegacyKey(tx: Tx, row: { id: string; workspace_id: string; hint: string; hash: string }): Promise<LegacyKeyRow> {
  return tx.insertInto("legacy_keys").values(row).returningAll().executeTakeFirstOrThrow();
}

/** Marks the workspace's active legacy key revoked; undefined if it has none. */
export async function revokeLegacyKey(tx: Tx, workspaceId: string): Promise<LegacyKeyRow | undefined> {
  return tx
    .updateTable("legacy_keys")
    .set({ revoked_at: new Date() })
    .where("workspace_id", "=", workspaceId)
    .where("revoked_at", "is", null)
    .returningAll()
    .executeTakeFirst();
}
