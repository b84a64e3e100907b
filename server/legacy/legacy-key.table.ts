import type { ColumnType, Selectable } from "kysely";

/** A full-access account key imported from an older system; only its hash is kept. */
export interface LegacyKeyTable {
  id: string;
  workspace_id: string;
  hint: string;
  hash: string;
  created_at: ColumnType<Date, never, never>;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export type LegacyKeyRow = Selectable<LegacyKeyTable>;
