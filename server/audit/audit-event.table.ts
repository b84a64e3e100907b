import type { ColumnType, Generated, Selectable } from "kysely";

export type AuditActionName = "create" | "update" | "rotate" | "delete" | "legacy_import" | "legacy_revoke";

/** One field's change; values are JSON text. Never holds a secret or a hash. */
export interface RecordedChange {
  field: string;
  old?: unknown;
  new?: unknown;
}

/** A recorded change to a key, written in the transaction of the change itself. */
export interface AuditEventTable {
  id: Generated<string>;
  workspace_id: string;
  actor_id: string;
  actor_name: string;
  action: AuditActionName;
  api_key_id: string;
  changes: ColumnType<RecordedChange[], string, never>;
  created_at: ColumnType<Date, never, never>;
}

export type AuditEventRow = Selectable<AuditEventTable>;
