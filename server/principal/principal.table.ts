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

/** How a browser session was started. */
export type SessionMethod = "token" | "oidc";

/**
 * A bearer token of a principal, or a browser session (see server/session), stored as an
 * argon2id hash.
 */
export interface PrincipalTokenTable {
  id: string;
  principal_id: string;
  hash: string;
  created_at: ColumnType<Date, never, never>;
  revoked_at: Date | null;
  /** Null for a principal token; how the session was started for a session. */
  session_method: ColumnType<SessionMethod | null, SessionMethod | null | undefined, never>;
  /** When a session ends; null for a principal token. */
  expires_at: ColumnType<Date | null, Date | null | undefined, never>;
  /** The principal token a session was signed in with (its revocation ends the session); null otherwise. */
  signed_in_with: ColumnType<string | null, string | null | undefined, never>;
}
