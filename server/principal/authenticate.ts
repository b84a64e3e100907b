// Bearer-token authentication. Tokens are in the key format with the principal prefix, so a
// malformed one is refused without touching the database.
import { parseToken } from "../../contract/key-format.js";
import { PRINCIPAL_TOKEN_PREFIX } from "../config.js";
import type { Db } from "../db/database.js";
import { UnauthenticatedError } from "../errors.js";
import type { UpgradeHash } from "../hash-upgrade.js";
import type { Hasher } from "../hashing.js";
import type { Caller } from "./caller.js";
import { findActiveToken } from "./principal.repository.js";

export type Authenticate = (authorization: string | null) => Promise<Caller>;

/** Builds the authenticator: header in, caller out, or UnauthenticatedError. */
export function createAuthenticator(db: Db, hasher: Hasher, upgradeHash: UpgradeHash): Authenticate {
  return async (authorization) => {
    if (!authorization) {
      throw new UnauthenticatedError('missing credentials: send "authorization: Bearer <token>"');
    }
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!match?.[1]) {
      throw new UnauthenticatedError('malformed authorization header: expected "Bearer <token>"');
    }
    const token = match[1];
    const parsed = parseToken(token, PRINCIPAL_TOKEN_PREFIX);
    const invalid = new UnauthenticatedError("invalid or revoked token");
    if (!parsed) throw invalid;
    const row = await findActiveToken(db, parsed.id);
    if (!row || !(await hasher.verify(row.hash, token))) throw invalid;
    upgradeHash({ table: "principal_tokens", column: "hash", id: parsed.id, hash: row.hash }, token);
    return { id: row.id, name: row.name, kind: row.kind, workspaceId: row.workspace_id, role: row.role };
  };
}
