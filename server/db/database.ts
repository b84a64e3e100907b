// The database handle: Kysely over a pg pool, typed by every feature's table.
import { Kysely, PostgresDialect, type Transaction } from "kysely";
import pg from "pg";
import type { ApiKeyTable } from "../api-key/api-key.table.js";
import type { AuditEventTable } from "../audit/audit-event.table.js";
import type { LegacyKeyTable } from "../legacy/legacy-key.table.js";
import type { PrincipalTable, PrincipalTokenTable } from "../principal/principal.table.js";
import type { ChangeTable, ReplicaTable } from "../replica/replica.table.js";
import type { ScopeTable } from "../scope/scope.table.js";
import type { WorkspaceTable } from "../workspace/workspace.table.js";

/** Every table, as Kysely sees it. */
export interface Database {
  workspaces: WorkspaceTable;
  principals: PrincipalTable;
  principal_tokens: PrincipalTokenTable;
  scopes: ScopeTable;
  api_keys: ApiKeyTable;
  legacy_keys: LegacyKeyTable;
  audit_events: AuditEventTable;
  replicas: ReplicaTable;
  changes: ChangeTable;
}

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;

/** Opens a pool on `url`; close it with `db.destroy()`. */
export function createDatabase(url: string, poolSize = 10): Db {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // An idle connection can be terminated by the server (a restart, or the embedded Postgres
  // stopping right after the pool closed). pg-pool drops that client; without a listener the
  // 'error' event would crash the process. A query that needs the database still fails loudly.
  pool.on("error", () => {});
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
