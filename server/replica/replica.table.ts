import type { ColumnType, Generated } from "kysely";

/** A running server process; see server/replica/replica.ts. */
export interface ReplicaTable {
  id: string;
  started_at: ColumnType<Date, never, never>;
  heartbeat_at: ColumnType<Date, Date | undefined, Date>;
  /** A bigint: the highest change id this replica has evicted (and every one below it). */
  confirmed_change: ColumnType<string, string | undefined, string>;
}

/** A change that replicas must evict from their caches; ids follow commit order. */
export interface ChangeTable {
  id: Generated<string>;
  subjects: string[];
  created_at: ColumnType<Date, Date | undefined, never>;
}
