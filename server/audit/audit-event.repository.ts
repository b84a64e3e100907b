import type { Db, Tx } from "../db/database.js";
import type { AuditActionName, RecordedChange } from "./audit-event.table.js";

/** Records an event; call it inside the transaction that makes the change. */
export async function insertAuditEvent(
  tx: Tx | Db,
  event: {
    workspace_id: string;
    actor: { id: string; name: string };
    action: AuditActionName;
    api_key_id: string;
    changes: RecordedChange[];
  },
): Promise<void> {
  await tx
    .insertInto("audit_events")
    .values({
      workspace_id: event.workspace_id,
      actor_id: event.actor.id,
      actor_name: event.actor.name,
      action: event.action,
      api_key_id: event.api_key_id,
      changes: JSON.stringify(event.changes),
    })
    .execute();
}

/** One page of a workspace's events, newest first, starting below `beforeId`. */
export async function listAuditEvents(
  db: Db,
  q: { workspaceId: string; limit: number; beforeId?: string; apiKeyId?: string },
) {
  let query = db
    .selectFrom("audit_events")
    .selectAll()
    .where("workspace_id", "=", q.workspaceId)
    .orderBy("id", "desc")
    .limit(q.limit);
  if (q.beforeId) query = query.where("id", "<", q.beforeId);
  if (q.apiKeyId) query = query.where("api_key_id", "=", q.apiKeyId);
  return query.execute();
}
