// The database handle: Kysely over a pg pool, typed by every feature's table.
import { Kysely, PostgresDialect, PostgresDriver, type Driver, type Transaction } from "kysely";
import pg from "pg";
import { COMMIT_IN_DOUBT, CommitInDoubtError, isDatabaseUnreachable } from "../errors.js";
import type { ApiKeyTable } from "../api-key/api-key.table.js";
import type { AuditEventTable } from "../audit/audit-event.table.js";
import type { LegacyKeyTable } from "../legacy/legacy-key.table.js";
import type { OidcIdentityTable } from "../oidc/oidc-identity.table.js";
import type { PrincipalTable, PrincipalTokenTable } from "../principal/principal.table.js";
import type { ChangeTable, ReplicaTable } from "../replica/replica.table.js";
import type { ScopeTable } from "../scope/scope.table.js";
import type { WorkspaceTable } from "../workspace/workspace.table.js";
import type { Tracing } from "../tracing/tracing.js";

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
  oidc_identities: OidcIdentityTable;
}

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;

// A pool that cannot hand out a connection in this time answers the call UNAVAILABLE instead of
// queueing it for as long as the database is gone (a host that drops packets never refuses).
const CONNECT_TIMEOUT_MS = 5000;

/** How a database's connection pool is used right now. */
export interface PoolUsage {
  /** Connections open, idle or checked out. */
  readonly total: number;
  readonly idle: number;
  /** Queries (or transactions) waiting for a connection. */
  readonly waiting: number;
  readonly max: number;
}

// Each handle's pg pool, for poolUsage: Kysely keeps its dialect's pool to itself.
const pools = new WeakMap<Db, pg.Pool>();

/** The connection pool's counters of a handle made by createDatabase. */
export function poolUsage(db: Db): PoolUsage | undefined {
  const pool = pools.get(db);
  return pool && { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: pool.options.max ?? 10 };
}

/** Opens a pool on `url`; close it with `db.destroy()`. With `tracing`, each query made inside a call's span gets a span. */
export function createDatabase(url: string, poolSize = 10, tracing?: Tracing): Db {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true });
  // A connection can be terminated by the server at any time: a restart or failover (57P01), a
  // crash, the embedded Postgres stopping right after the pool closed. pg emits 'error' on its
  // client then, and pg-pool listens only while the client is idle: one checked out for a
  // transaction (between its statements) had no listener, and the event crashed the process. Every
  // client gets a listener for its whole life; the statement that next needs it fails instead
  // ("not queryable"), and pg-pool discards it when released.
  pool.on("connect", (client) => client.on("error", () => {}));
  pool.on("error", () => {});
  // Without tracing Kysely is given no log hook, and wraps nothing around its queries.
  const db = new Kysely<Database>({ dialect: new KeepCauseDialect({ pool }), log: tracing?.queryLog(url) });
  pools.set(db, pool);
  return db;
}

// Kysely rolls back a transaction whose callback or COMMIT failed, and a failed ROLLBACK (on a
// connection that is gone) replaced the error that caused it: the caller and the log saw
// "Connection terminated" instead of why the transaction failed. Kysely already discards such a
// connection; the original error is what propagates.
class KeepCauseDialect extends PostgresDialect {
  constructor(private readonly config: { pool: pg.Pool }) {
    super(config);
  }

  override createDriver(): Driver {
    return new KeepCauseDriver(this.config);
  }
}

class KeepCauseDriver extends PostgresDriver {
  // A connection lost during COMMIT leaves the outcome unknown: the server may have committed
  // before it went. "Retry shortly" would then make the change twice; the caller must check first.
  // The error keeps its cause, so the outage log still counts it as unreachable.
  override async commitTransaction(connection: Parameters<PostgresDriver["commitTransaction"]>[0]): Promise<void> {
    try {
      await super.commitTransaction(connection);
    } catch (err) {
      if (isDatabaseUnreachable(err)) throw new CommitInDoubtError(COMMIT_IN_DOUBT, { cause: err });
      throw err;
    }
  }

  override async rollbackTransaction(connection: Parameters<PostgresDriver["rollbackTransaction"]>[0]): Promise<void> {
    await super.rollbackTransaction(connection).catch(() => {});
  }
}
