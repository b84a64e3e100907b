import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { LegacyKeySchema, type LegacyKey } from "../../contract/gen/apikeys/v1/support_service_pb.js";
import type { LegacyKeyRow } from "./legacy-key.table.js";

/** Row to API message: metadata only, never the hash. */
export function legacyKeyRowToProto(row: LegacyKeyRow): LegacyKey {
  return create(LegacyKeySchema, {
    id: row.id,
    workspaceId: row.workspace_id,
    hint: row.hint,
    createTime: timestampFromDate(row.created_at),
    lastUsedTime: row.last_used_at ? timestampFromDate(row.last_used_at) : undefined,
    revokeTime: row.revoked_at ? timestampFromDate(row.revoked_at) : undefined,
  });
}
