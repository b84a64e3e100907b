import type { ColumnType } from "kysely";

/** A person at an OpenID provider, linked to the principal that signs in as them. */
export interface OidcIdentityTable {
  issuer: string;
  subject: string;
  principal_id: string;
  created_at: ColumnType<Date, never, never>;
  last_sign_in_at: ColumnType<Date, Date | undefined, Date>;
}
