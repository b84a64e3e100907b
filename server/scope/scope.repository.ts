import type { Db } from "../db/database.js";

/** The whole catalog, sorted by name. */
export async function listScopes(db: Db) {
  return db.selectFrom("scopes").selectAll().orderBy("name").execute();
}

/** Adds scopes that are not in the catalog yet; existing ones keep their description. */
export async function addScopes(db: Db, scopes: ReadonlyArray<{ name: string; description: string }>): Promise<string[]> {
  if (scopes.length === 0) return [];
  const inserted = await db
    .insertInto("scopes")
    .values(scopes.map((s) => ({ name: s.name, description: s.description })))
    .onConflict((oc) => oc.column("name").doNothing())
    .returning("name")
    .execute();
  return inserted.map((r) => r.name);
}
