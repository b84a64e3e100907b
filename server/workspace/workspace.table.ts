import type { ColumnType } from "kysely";

/** A tenant: holds keys and members. */
export interface WorkspaceTable {
  id: string;
  name: string;
  created_at: ColumnType<Date, never, never>;
}
