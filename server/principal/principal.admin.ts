// Creating principals and minting their tokens: used by the CLI (and by tests, which set up the
// same principals a deployment would have). A token is returned once; only its hash is stored.
import { mintToken, parseToken } from "../../contract/key-format.js";
import { PRINCIPAL_TOKEN_PREFIX } from "../config.js";
import type { Db } from "../db/database.js";
import type { Hasher } from "../hashing.js";
import { newId } from "../ids.js";
import { principalSubject, recordChange } from "../replica/change.repository.js";
import type { PrincipalKind, Role } from "./principal.table.js";
import { insertPrincipal, insertPrincipalToken, revokePrincipalTokens } from "./principal.repository.js";

export interface MintedPrincipal {
  readonly principalId: string;
  readonly workspaceId: string | null;
  /** Shown once; never stored. */
  readonly token: string;
}

/** A mistake in the arguments the operator can fix, such as an unknown workspace or principal. */
export class AdminInputError extends Error {
  override name = "AdminInputError";
}

/** Adds a principal and mints its first token, in one transaction. */
export async function addPrincipal(
  db: Db,
  hasher: Hasher,
  p: { kind: PrincipalKind; name: string; workspaceId?: string | null; role?: Role | null },
): Promise<MintedPrincipal> {
  const workspaceId = p.workspaceId ?? null;
  if (workspaceId && !(await db.selectFrom("workspaces").select("id").where("id", "=", workspaceId).executeTakeFirst())) {
    throw new AdminInputError(`no workspace "${workspaceId}"; \`apikeys principals list\` shows the workspaces`);
  }
  const principalId = newId("pr");
  const { token, tokenId, hash } = await newToken(hasher);
  await db.transaction().execute(async (tx) => {
    await insertPrincipal(tx, { id: principalId, kind: p.kind, workspace_id: workspaceId, role: p.role ?? null, name: p.name });
    await insertPrincipalToken(tx, { id: tokenId, principal_id: principalId, hash });
  });
  return { principalId, workspaceId, token };
}

/** Mints another token for an existing principal (for example after revoking a leaked one). */
export async function addToken(db: Db, hasher: Hasher, principalId: string): Promise<MintedPrincipal> {
  const principal = await db.selectFrom("principals").select(["id", "workspace_id"]).where("id", "=", principalId).executeTakeFirst();
  if (!principal) throw new AdminInputError(`no principal "${principalId}"; \`apikeys principals list\` shows them`);
  const { token, tokenId, hash } = await newToken(hasher);
  await insertPrincipalToken(db, { id: tokenId, principal_id: principalId, hash });
  return { principalId, workspaceId: principal.workspace_id, token };
}

/**
 * Revokes every token of a principal, and with them its browser sessions: how many of each were
 * revoked, and the change that makes running servers evict the principal's cached tokens and
 * sessions (none when nothing was revoked). The CLI does not wait; a server process may pass
 * `change` to its replica's `awaitConfirmation`.
 */
export async function revokeTokens(
  db: Db,
  principalId: string,
): Promise<{ revoked: number; sessions: number; change: string | undefined }> {
  return db.transaction().execute(async (tx) => {
    const { tokens, sessions } = await revokePrincipalTokens(tx, principalId);
    const change = tokens + sessions > 0 ? await recordChange(tx, [principalSubject(principalId)]) : undefined;
    return { revoked: tokens, sessions, change };
  });
}

/** Creates a workspace and its first owner, in one transaction. */
export async function createWorkspaceWithOwner(db: Db, hasher: Hasher, w: { name: string; ownerName: string }): Promise<MintedPrincipal> {
  const workspaceId = newId("ws");
  const principalId = newId("pr");
  const { token, tokenId, hash } = await newToken(hasher);
  await db.transaction().execute(async (tx) => {
    await tx.insertInto("workspaces").values({ id: workspaceId, name: w.name }).execute();
    await insertPrincipal(tx, { id: principalId, kind: "member", workspace_id: workspaceId, role: "owner", name: w.ownerName });
    await insertPrincipalToken(tx, { id: tokenId, principal_id: principalId, hash });
  });
  return { principalId, workspaceId, token };
}

/** A fresh token, its public id (the token row's key) and its hash. */
async function newToken(hasher: Hasher): Promise<{ token: string; tokenId: string; hash: string }> {
  const token = mintToken(PRINCIPAL_TOKEN_PREFIX);
  return { token, tokenId: parseToken(token, PRINCIPAL_TOKEN_PREFIX)!.id, hash: await hasher.hash(token) };
}
