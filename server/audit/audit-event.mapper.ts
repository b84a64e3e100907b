import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuditAction, AuditEventSchema, type AuditEvent } from "../../contract/gen/apikeys/v1/audit_event_pb.js";
import type { AuditActionName, AuditEventRow } from "./audit-event.table.js";

const ACTIONS: Record<AuditActionName, AuditAction> = {
  create: AuditAction.CREATE,
  update: AuditAction.UPDATE,
  rotate: AuditAction.ROTATE,
  delete: AuditAction.DELETE,
  legacy_import: AuditAction.LEGACY_IMPORT,
  legacy_revoke: AuditAction.LEGACY_REVOKE,
};

/** Row to API message; change values are rendered as JSON text. */
export function auditEventRowToProto(row: AuditEventRow): AuditEvent {
  return create(AuditEventSchema, {
    id: String(row.id),
    workspaceId: row.workspace_id,
    time: timestampFromDate(row.created_at),
    actorId: row.actor_id,
    actorName: row.actor_name,
    action: ACTIONS[row.action],
    apiKeyId: row.api_key_id,
    changes: row.changes.map((c) => ({
      field: c.field,
      oldValue: c.old === undefined ? "" : JSON.stringify(c.old),
      newValue: c.new === undefined ? "" : JSON.stringify(c.new),
    })),
  });
}
