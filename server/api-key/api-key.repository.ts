import { sql } from "kysely";
import type { Db, Tx } from "../db/database.js";
import type { Access, ApiKeyRow } from "./api-key.table.js";

/** A key by id, deleted or not; the caller decides what a deleted key means. */
export async function findApiKeyById(db: Db | Tx, id: string): Promise<ApiKeyRow | undefined> {
  return db.selectFrom("api_keys").selectAll().where("id", "=", id).executeTakeFirst();
}

/** Keys by id, deleted or not, in one query: each found row by its id. */
export async function findApiKeysByIds(db: Db, ids: readonly string[]): Promise<Map<string, ApiKeyRow>> {
  const rows = await db.selectFrom("api_keys").selectAll().where(sql<boolean>`id = any(${ids}::text[])`).execute();
  return new Map(rows.map((row) => [row.id, row]));
}

/** A live key by id, locked for update within `tx`. */
export async function findApiKeyForUpdate(tx: Tx, id: string): Promise<ApiKeyRow | undefined> {
  return tx.selectFrom("api_keys").selectAll().where("id", "=", id).where("deleted_at", "is", null).forUpdate().executeTakeFirst();
}

/** Inserts a key; returns undefined when the id is taken (client-supplied key material). */
export async function insertApiKey(
  tx: Tx,
  row: { id: string; workspace_id: string; name: string; access: Access; scopes: string[]; hash: string; hint: string; created_by: string },
): Promise<ApiKeyRow | undefined> {
  return tx
    .insertInto("api_keys")
    .values(row)
    .onConflict((oc) => oc.column("id").doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** Applies a change and bumps the version; returns the new row. */
export async function updateApiKey(
  tx: Tx,
  id: string,
  change: Partial<Pick<ApiKeyRow, "name" | "access" | "scopes" | "hash" | "hint" | "previous_hash" | "previous_expires_at" | "deleted_at">>,
): Promise<ApiKeyRow> {
  return tx
    .updateTable("api_keys")
    .set({ ...change, version: sql`version + 1`, updated_at: new Date() })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** One page of a workspace's live keys, newest first, after the cursor. */
export async function listApiKeys(
  db: Db,
  q: { workspaceId: string; limit: number; after?: { createdAt: string; id: string } },
): Promise<Array<ApiKeyRow & { cursor_time: string }>> {
  let query = db
    .selectFrom("api_keys")
    .selectAll()
    // The exact creation time as text: a JS Date keeps only milliseconds, and a cursor rounded
    // down would skip keys created in the same millisecond as a page's last one.
    .select(sql<string>`created_at::text`.as("cursor_time"))
    .where("workspace_id", "=", q.workspaceId)
    .where("deleted_at", "is", null)
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(q.limit);
  if (q.after) query = query.where(sql<boolean>`(created_at, id) < (${q.after.createdAt}::timestamptz, ${q.after.id})`);
  return query.execute();
}

/** Last-used times collected in memory: ms since the epoch by id, per table. */
export interface LastUses {
  readonly api_keys: ReadonlyMap<string, number>;
  readonly legacy_keys: ReadonlyMap<string, number>;
}

/**
 * Records a batch of last-used times in one statement, with one update per table that has any
 * (Postgres runs every data-modifying WITH to completion, read or not). Nothing is sent for an
 * empty batch. Ids go in sorted: when the plan follows them, replicas flushing the same keys lock
 * rows in one order (a deadlock otherwise costs a warning, and the batch is retried).
 */
export async function recordLastUsed(db: Db, uses: LastUses): Promise<void> {
  const updates = (["api_keys", "legacy_keys"] as const)
    .filter((table) => uses[table].size > 0)
    .map((table) => {
      const ids = [...uses[table].keys()].sort();
      const times = ids.map((id) => new Date(uses[table].get(id)!).toISOString());
      return sql`
        update ${sql.table(table)} as k set last_used_at = greatest(k.last_used_at, u.used_at)
        from unnest(${ids}::text[], ${times}::timestamptz[]) as u(id, used_at)
        where k.id = u.id`;
    });
  if (updates.length === 0) return;
  const statement = updates.length === 1 ? updates[0]! : sql`with ${sql.join(updates.map((update, i) => sql`${sql.ref(`used_${i}`)} as (${update})`))} select 1`;
  await statement.execute(db);
}
