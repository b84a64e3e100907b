// Hashes made with other argon2 parameters than their kind's are replaced after a successful
// check, while the secret is at hand; the update applies only if the hash is still the one that
// was checked. Lowering the keys' cost therefore takes effect on each key's next check.
import type { Db } from "./db/database.js";
import type { Hasher } from "./hashing.js";
import type { Logger } from "./logger.js";

/** Every column that holds an argon2 hash of a secret. */
export type HashColumn =
  | { readonly table: "api_keys"; readonly column: "hash" | "previous_hash" }
  | { readonly table: "legacy_keys" | "principal_tokens"; readonly column: "hash" };

export type UpgradeHash = (where: HashColumn & { readonly id: string; readonly hash: string }, secret: string) => void;

/** The hasher for each kind of secret: API keys and principal tokens, and legacy keys. */
export interface Hashers {
  readonly keys: Hasher;
  readonly legacy: Hasher;
}

/** Returns a function that upgrades an outdated hash in the background (never blocking a call). */
export function createHashUpgrader(db: Db, hashers: Hashers, log: Logger): UpgradeHash {
  return (where, secret) => {
    const hasher = where.table === "legacy_keys" ? hashers.legacy : hashers.keys;
    if (!hasher.needsRehash(where.hash)) return;
    void (async () => {
      const fresh = await hasher.hash(secret);
      // Kysely cannot type a table chosen at run time; the union above keeps the names valid.
      await (db as Db)
        .updateTable(where.table as "api_keys")
        .set({ [where.column]: fresh })
        .where("id", "=", where.id)
        .where(where.column as "hash", "=", where.hash)
        .execute();
    })().catch((error: unknown) => log.warn("could not upgrade an outdated hash", { table: where.table, id: where.id, error }));
  };
}
