// `apikeys legacy import`: stores the hash of a workspace's key from an older system.
import { insertAuditEvent } from "../audit/audit-event.repository.js";
import type { Db } from "../db/database.js";
import type { Hasher } from "../hashing.js";
import { newId } from "../ids.js";
import { AdminInputError } from "../principal/principal.admin.js";
import { legacyHint, legacySecretProblem } from "./legacy-hint.js";
import { findLegacyKeyOfWorkspace, insertLegacyKey } from "./legacy-key.repository.js";
import type { LegacyKeyRow } from "./legacy-key.table.js";

const CLI_ACTOR = { id: "cli", name: "apikeys legacy import" };

/** Imports a legacy secret; refuses a second active one for the workspace. */
export async function importLegacyKey(db: Db, hasher: Hasher, input: { workspaceId: string; secret: string }): Promise<LegacyKeyRow> {
  const problem = legacySecretProblem(input.secret);
  if (problem) throw new AdminInputError(`the legacy secret on stdin ${problem}`);
  const workspace = await db.selectFrom("workspaces").select("id").where("id", "=", input.workspaceId).executeTakeFirst();
  if (!workspace) throw new AdminInputError(`no workspace "${input.workspaceId}"; see \`apikeys principals list\``);
  const hash = await hasher.hash(input.secret);
  return db.transaction().execute(async (tx) => {
    const existing = await findLegacyKeyOfWorkspace(tx, input.workspaceId);
    if (existing && !existing.revoked_at) {
      throw new AdminInputError(`workspace ${input.workspaceId} already has an active legacy key (${existing.hint}); revoke it first`);
    }
    const row = await insertLegacyKey(tx, { id: newId("lk"), workspace_id: input.workspaceId, hint: legacyHint(input.secret), hash });
    await insertAuditEvent(tx, { workspace_id: row.workspace_id, actor: CLI_ACTOR, action: "legacy_import", api_key_id: row.id, changes: [{ field: "hint", new: row.hint }] });
    return row;
  });
}
