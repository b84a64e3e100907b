// Creating principals and minting their tokens: used by the CLI (and by tests, which set up the
// same principals a deployment would have). A token is returned once; only its hash is stored.
import { mintToken } from "../../contract/key-format.js";
import { PRINCIPAL_TOKEN_PREFIX } from "../config.js";
import type { Db } from "../db/database.js";
import type { Hasher } from "../hashing.js";
import { newId } from "../ids.js";
import type { PrincipalKind, Role } from "./principal.table.js";
import { insertPrincipal, insertPrincipalToken } from "./principal.repository.js";

export interface MintedPrincipal {
  readonly principalId: string;
  readonly workspaceId: string | null;
  /** Shown once; never stored. */
  readonly token: string;
}

/** Adds a principal and mints its first token, in one transaction. */
export async function addPrincipal(
  db: Db,
  hasher: Hasher,
  p: { kind: PrincipalKind; name: string; workspaceId?: string | null; role?: Role | null },
): Promise<MintedPrincipal> {
  const token = mintToken(PRINCIPAL_TOKEN_PREFIX);
  const hash = await hasher.hash(token);
  const principalId = newId("pr");
  const workspaceId = p.workspaceId ?? null;
  await db.transaction().execute(async (tx) => {
    await insertPrincipal(tx, { id: principalId, kind: p.kind, workspace_id: workspaceId, role: p.role ?? null, name: p.name });
    await insertPrincipalToken(tx, { id: token.slice(PRINCIPAL_TOKEN_PREFIX.length + 1, PRINCIPAL_TOKEN_PREFIX.length + 13), principal_id: principalId, hash });
  });
  return { principalId, workspaceId, token };
}

/** Creates a workspace and its first owner. */
export async function createWorkspaceWithOwner(db: Db, hasher: Hasher, w: { name: string; ownerName: string }): Promise<MintedPrincipal> {
  const workspaceId = newId("ws");
  await db.insertInto("workspaces").values({ id: workspaceId, name: w.name }).execute();
  return addPrincipal(db, hasher, { kind: "member", role: "owner", name: w.ownerName, workspaceId });
}
