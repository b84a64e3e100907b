// SupportService: support staff inspect and revoke a workspace's legacy account key.
import type { ServiceImpl } from "@connectrpc/connect";
import type { SupportService } from "../../contract/gen/apikeys/v1/support_service_pb.js";
import { insertAuditEvent } from "../audit/audit-event.repository.js";
import type { Db } from "../db/database.js";
import { rollBackPastDeadline } from "../deadline.js";
import { InvalidArgumentError, NotFoundError } from "../errors.js";
import { callerOf, requireSupport } from "../principal/caller.js";
import { legacySubject, recordChange } from "../replica/change.repository.js";
import { findLegacyKeyOfWorkspace, revokeLegacyKey } from "./legacy-key.repository.js";
import { legacyKeyRowToProto } from "./legacy-key.mapper.js";

export interface SupportServiceDeps {
  /** Waits until every live replica has evicted a recorded change (bounded; see server/replica). */
  readonly awaitConfirmation: (changeId: string, committed: string) => Promise<void>;
}

/** Builds the SupportService implementation. */
export function createSupportService(db: Db, deps: SupportServiceDeps): ServiceImpl<typeof SupportService> {
  const requireWorkspaceId = (workspaceId: string) =>
    InvalidArgumentError.throwIfAny(workspaceId ? [] : [{ field: "workspace_id", description: "is required, for example \"ws_3kTq9ZbW1xYp\"" }]);
  const notFound = (workspaceId: string) => new NotFoundError(`workspace "${workspaceId}" has no legacy account key`);

  return {
    async getLegacyKey(req, ctx) {
      requireSupport(callerOf(ctx));
      requireWorkspaceId(req.workspaceId);
      const row = await findLegacyKeyOfWorkspace(db, req.workspaceId);
      if (!row) throw notFound(req.workspaceId);
      return { legacyKey: legacyKeyRowToProto(row) };
    },

    async revokeLegacyKey(req, ctx) {
      const caller = requireSupport(callerOf(ctx));
      requireWorkspaceId(req.workspaceId);
      const { row, change } = await db.transaction().execute(async (tx) => {
        const revoked = await revokeLegacyKey(tx, req.workspaceId);
        if (!revoked) {
          const existing = await findLegacyKeyOfWorkspace(tx, req.workspaceId);
          if (existing) return { row: existing, change: undefined }; // Already revoked: revoking again changes nothing.
          throw notFound(req.workspaceId);
        }
        await insertAuditEvent(tx, {
          workspace_id: revoked.workspace_id,
          actor: caller,
          action: "legacy_revoke",
          api_key_id: revoked.id,
          changes: [{ field: "revoked", old: false, new: true }],
        });
        const change = await recordChange(tx, [legacySubject(revoked.id)]);
        rollBackPastDeadline(ctx);
        return { row: revoked, change };
      });
      // Answered once every replica refuses the key.
      if (change) await deps.awaitConfirmation(change, "The legacy key is revoked");
      return { legacyKey: legacyKeyRowToProto(row) };
    },
  };
}
