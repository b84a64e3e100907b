import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AccessLevel, ApiKeySchema, type ApiKey } from "../../contract/gen/apikeys/v1/api_key_pb.js";
import { effectiveScopes } from "../scope/scope-rules.js";
import type { Access, ApiKeyRow } from "./api-key.table.js";

/** Column value to API enum. */
export function accessToProto(access: Access): AccessLevel {
  return access === "full" ? AccessLevel.FULL : AccessLevel.CUSTOM;
}

/** API enum to column value; undefined for UNSPECIFIED or unknown numbers. */
export function accessFromProto(level: AccessLevel): Access | undefined {
  if (level === AccessLevel.FULL) return "full";
  if (level === AccessLevel.CUSTOM) return "custom";
  return undefined;
}

/** The etag of a row: its version, which every change bumps. */
export function etagOf(row: Pick<ApiKeyRow, "version">): string {
  return `"${row.version}"`;
}

/** Row to API message; `catalog` fills effective scopes of FULL keys. Never copies a hash. */
export function apiKeyRowToProto(row: ApiKeyRow, catalog: readonly string[]): ApiKey {
  const previousLive = row.previous_expires_at && row.previous_expires_at > new Date();
  return create(ApiKeySchema, {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    access: accessToProto(row.access),
    scopes: row.scopes,
    effectiveScopes: effectiveScopes(row.access, row.scopes, catalog),
    hint: row.hint,
    createTime: timestampFromDate(row.created_at),
    updateTime: timestampFromDate(row.updated_at),
    lastUsedTime: row.last_used_at ? timestampFromDate(row.last_used_at) : undefined,
    createdBy: row.created_by,
    etag: etagOf(row),
    previousSecretExpireTime: previousLive ? timestampFromDate(row.previous_expires_at!) : undefined,
  });
}
