// Runs the schema migrations, in code order. Safe to run any number of times: Kysely records
// what ran in its own table and takes a lock, so concurrent replicas do not race.
import { Migrator, type Kysely, type Migration, type MigrationResultSet } from "kysely";
import * as initial from "./migrations/0001-initial.js";
import * as replicas from "./migrations/0002-replicas.js";
import * as sessions from "./migrations/0003-sessions.js";
import * as oidcIdentities from "./migrations/0004-oidc-identities.js";

const migrations: Record<string, Migration> = {
  "0001-initial": initial,
  "0002-replicas": replicas,
  "0003-sessions": sessions,
  "0004-oidc-identities": oidcIdentities,
};

/** Brings the schema to the latest version; throws with the failing migration's error. */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const result = await migrator.migrateToLatest();
  if (result.error) {
    throw new Error("database migration failed", { cause: result.error });
  }
  return result;
}
