import type { ColumnType, Generated, Selectable } from "kysely";

export type Access = "full" | "custom";

/** An API key; `hash` and `previous_hash` are argon2id PHC strings, never secrets. */
export interface ApiKeyTable {
  id: string;
  workspace_id: string;
  name: string;
  access: Access;
  scopes: string[];
  hash: string;
  hint: string;
  previous_hash: string | null;
  previous_expires_at: Date | null;
  version: Generated<number>;
  created_by: string;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
  last_used_at: Date | null;
  /** When the key stops verifying: the delete itself, or its end of grace (DeleteApiKey grace_period). */
  deleted_at: Date | null;
}

export type ApiKeyRow = Selectable<ApiKeyTable>;
