import type { ColumnType } from "kysely";

/** One entry of the scope catalog. Scopes are only ever added. */
export interface ScopeTable {
  name: string;
  description: string;
  created_at: ColumnType<Date, never, never>;
}
