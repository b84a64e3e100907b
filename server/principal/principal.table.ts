import type { ColumnType } from "kysely";

export type PrincipalKind = "member" | "service" | "support";
export type Role = "owner" | "admin" | "member";

/** Someone or something that calls the API: a workspace member, a verifying service, support. */
export interface PrincipalTable {
  id: string;
  kind: PrincipalKind;
  workspace_id: string | null;
  role: Role | null;
  name: string;
  created_at: ColumnType<Date, never, never>;
}

/** A bearer token of a principal, stored as an argon2id hash. */
export interface PrincipalTokenTable {
  id: string;
  principal_id: string;
  hash: string;
  created_at: ColumnType<Date, never, never>;
  revoked_at: Date | null;
}
