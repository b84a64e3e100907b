// ApiKeyService: the same implementation serves the Connect (HTTP) and grpc-js (gRPC) listeners.
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { durationMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Duration } from "@bufbuild/protobuf/wkt";
import type { ApiKeyService } from "../../contract/gen/apikeys/v1/api_key_service_pb.js";
import { VerificationStatus } from "../../contract/gen/apikeys/v1/api_key_service_pb.js";
import { describeTokenProblem, inspectToken, mintToken, parseToken, tokenHint } from "../../contract/key-format.js";
import { insertAuditEvent, listAuditEvents } from "../audit/audit-event.repository.js";
import { auditEventRowToProto } from "../audit/audit-event.mapper.js";
import type { RecordedChange } from "../audit/audit-event.table.js";
import type { Db, Tx } from "../db/database.js";
import { rollBackPastDeadline } from "../deadline.js";
import { AlreadyExistsError, InvalidArgumentError, NotFoundError, StaleEtagError, UnconfirmedChangeError, type FieldViolation } from "../errors.js";
import type { Hasher } from "../hashing.js";
import { decodePageToken, encodePageToken, invalidPageToken, isBigintText, isPostgresTimestampText, pageSize } from "../pagination.js";
import { isCachedCaller } from "../principal/authenticate.js";
import { findPrincipalNames } from "../principal/principal.repository.js";
import { callerOf, requireKeyManager, requireVerifier, type Caller } from "../principal/caller.js";
import { logFieldsKey } from "../rpc-boundary.js";
import { recordChange } from "../replica/change.repository.js";
import { isIdentifier } from "../request-checks.js";
import { listScopes } from "../scope/scope.repository.js";
import { reusableAnswerKey } from "../verify/answer-cache.js";
import type { Verification, Verifier, VerifyStatus } from "../verify/verifier.js";
import { accessToProto, apiKeyRowToProto, etagOf } from "./api-key.mapper.js";
import { findApiKeyById, findApiKeyForUpdate, insertApiKey, listApiKeys, updateApiKey } from "./api-key.repository.js";
import type { ApiKeyRow } from "./api-key.table.js";
import type { ApiKey } from "../../contract/gen/apikeys/v1/api_key_pb.js";
import { checkAccess, checkName, checkScopes } from "./api-key.validation.js";

export interface ApiKeyServiceDeps {
  readonly db: Db;
  readonly hasher: Hasher;
  readonly keyPrefix: string;
  readonly verify: Verifier;
  /**
   * Waits until every live replica has evicted a recorded change (bounded; see server/replica);
   * UNAVAILABLE, naming the `committed` change, when that could not be checked.
   */
  readonly awaitConfirmation: (changeId: string, committed: string) => Promise<void>;
}

const MAX_GRACE_MS = 24 * 60 * 60 * 1000;

/** A rotation's or deletion's grace period in milliseconds, or a violation when out of range. */
function checkGrace(grace: Duration | undefined, violations: FieldViolation[]): number {
  const ms = grace ? durationMs(grace) : 0;
  if (ms >= 0 && ms <= MAX_GRACE_MS) return ms;
  violations.push({ field: "grace_period", description: "must be from 0 to 24 hours (86400s)" });
  return 0;
}
const UPDATABLE = ["name", "access", "scopes"] as const;
const STATUS: Record<VerifyStatus, VerificationStatus> = {
  valid: VerificationStatus.VALID,
  malformed: VerificationStatus.MALFORMED,
  not_found: VerificationStatus.NOT_FOUND,
  revoked: VerificationStatus.REVOKED,
  expired: VerificationStatus.EXPIRED,
  insufficient_scope: VerificationStatus.INSUFFICIENT_SCOPE,
};

/** Builds the ApiKeyService implementation. Callers are authenticated by the RPC boundary. */
export function createApiKeyService(deps: ApiKeyServiceDeps): ServiceImpl<typeof ApiKeyService> {
  const { db, hasher, keyPrefix } = deps;
  const catalogNames = async () => (await listScopes(db)).map((s) => s.name);
  // Who created each key, by name, so that a list reads "by Olivia Owner" rather than an id.
  const withCreatorNames = async (keys: ApiKey[]): Promise<ApiKey[]> => {
    const names = await findPrincipalNames(db, keys.map((k) => k.createdBy));
    for (const key of keys) key.createdByName = names.get(key.createdBy) ?? "";
    return keys;
  };
  const withCreatorName = async (key: ApiKey): Promise<ApiKey> => (await withCreatorNames([key]))[0]!;

  /** Checks client-supplied key material; returns the token to store, minting one when absent. */
  function tokenFrom(material: string, field: string, violations: FieldViolation[], id?: string): string {
    if (material === "") return mintToken(keyPrefix, id);
    const parsed = inspectToken(material, keyPrefix);
    if (typeof parsed === "string") {
      violations.push({ field, description: `${describeTokenProblem(parsed, keyPrefix)}; mint key material in the deployment's key format` });
    } else if (id && parsed.id !== id) {
      violations.push({ field, description: `must carry the id of the key being rotated ("${id}")` });
    }
    return material;
  }

  /** A live key of the caller's workspace, locked for the rest of the transaction. */
  async function lockKey(tx: Tx, caller: Caller & { workspaceId: string }, id: string, etag = ""): Promise<ApiKeyRow> {
    const row = await findApiKeyForUpdate(tx, id);
    if (!row || row.workspace_id !== caller.workspaceId) throw new NotFoundError(`API key "${id}" not found`);
    if (etag !== "" && etag !== etagOf(row)) {
      throw new StaleEtagError(`API key "${id}" changed since you read it (etag ${etag}, now ${etagOf(row)}); read it again and retry`);
    }
    return row;
  }

  return {
    async createApiKey(req, ctx) {
      const caller = requireKeyManager(callerOf(ctx));
      const catalog = await catalogNames();
      const violations: FieldViolation[] = [];
      const name = checkName(req.name, violations);
      const access = checkAccess(req.access, violations);
      const scopes = checkScopes(access, req.scopes, catalog, violations);
      const token = tokenFrom(req.keyMaterial, "key_material", violations);
      InvalidArgumentError.throwIfAny(violations);
      const hash = await hasher.hash(token);
      const { id } = parseToken(token, keyPrefix)!;
      const row = await db.transaction().execute(async (tx) => {
        const inserted = await insertApiKey(tx, {
          id,
          workspace_id: caller.workspaceId,
          name,
          access: access!,
          scopes,
          hash,
          hint: tokenHint(token, keyPrefix),
          created_by: caller.id,
        });
        if (!inserted) throw new AlreadyExistsError("key_material's id is already in use; mint new key material");
        await insertAuditEvent(tx, {
          workspace_id: caller.workspaceId,
          actor: caller,
          action: "create",
          api_key_id: id,
          changes: [
            { field: "name", new: name },
            { field: "access", new: access },
            { field: "scopes", new: scopes },
          ],
        });
        rollBackPastDeadline(ctx);
        return inserted;
      });
      return { apiKey: await withCreatorName(apiKeyRowToProto(row, catalog)), secret: req.keyMaterial === "" ? token : "" };
    },

    async getApiKey(req, ctx) {
      const caller = requireKeyManager(callerOf(ctx));
      const row = await findApiKeyById(db, req.id);
      if (!row || row.deleted_at || row.workspace_id !== caller.workspaceId) {
        throw new NotFoundError(`API key "${req.id}" not found`);
      }
      return { apiKey: await withCreatorName(apiKeyRowToProto(row, await catalogNames())) };
    },

    async listApiKeys(req, ctx) {
      const caller = requireKeyManager(callerOf(ctx));
      const limit = pageSize(req.pageSize);
      const after = decodePageToken(req.pageToken, { createdAt: isPostgresTimestampText, id: isIdentifier });
      const rows = await listApiKeys(db, { workspaceId: caller.workspaceId, limit: limit + 1, after }).catch((err: { code?: string }) => {
        // Class 22 is Postgres's "data exception": a well-shaped but impossible time, such as month 13.
        throw after && err.code?.startsWith("22") ? invalidPageToken() : err;
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      const catalog = await catalogNames();
      return {
        apiKeys: await withCreatorNames(page.map((row) => apiKeyRowToProto(row, catalog))),
        nextPageToken: rows.length > limit && last ? encodePageToken({ createdAt: last.cursor_time, id: last.id }) : "",
        keyPrefix,
      };
    },

    async updateApiKey(req, ctx) {
      const caller = requireKeyManager(callerOf(ctx));
      const input = req.apiKey;
      const paths = req.updateMask?.paths ?? [];
      const violations: FieldViolation[] = [];
      if (!input?.id) violations.push({ field: "api_key.id", description: "is required" });
      if (paths.length === 0) violations.push({ field: "update_mask", description: `is required: list the fields to change, any of ${UPDATABLE.join(", ")}` });
      for (const path of paths) {
        if (!(UPDATABLE as readonly string[]).includes(path)) {
          violations.push({ field: "update_mask", description: `cannot update "${path}"; updatable fields are ${UPDATABLE.join(", ")}` });
        }
      }
      InvalidArgumentError.throwIfAny(violations);
      const catalog = await catalogNames();
      const { row, change } = await db.transaction().execute(async (tx) => {
        const current = await lockKey(tx, caller, input!.id, input!.etag);
        const name = paths.includes("name") ? checkName(input!.name, violations, "api_key.name") : current.name;
        const access = paths.includes("access") ? checkAccess(input!.access, violations, "api_key.access") : current.access;
        const requested = paths.includes("scopes") ? input!.scopes : access === "full" ? [] : current.scopes;
        const scopes = checkScopes(access, requested, catalog, violations, "api_key.scopes");
        InvalidArgumentError.throwIfAny(violations);
        const changes: RecordedChange[] = [];
        if (name !== current.name) changes.push({ field: "name", old: current.name, new: name });
        if (access !== current.access) changes.push({ field: "access", old: current.access, new: access });
        if (scopes.join() !== [...current.scopes].sort().join()) changes.push({ field: "scopes", old: current.scopes, new: scopes });
        if (changes.length === 0) return { row: current, change: undefined };
        const updated = await updateApiKey(tx, current.id, { name, access: access!, scopes });
        await insertAuditEvent(tx, { workspace_id: caller.workspaceId, actor: caller, action: "update", api_key_id: current.id, changes });
        const change = await recordChange(tx, [current.id]);
        rollBackPastDeadline(ctx);
        return { row: updated, change };
      });
      // Answered once every replica verifies with the new access and scopes.
      if (change) await deps.awaitConfirmation(change, `API key "${row.id}" is updated`);
      return { apiKey: await withCreatorName(apiKeyRowToProto(row, catalog)) };
    },

    async deleteApiKey(req, ctx) {
      const caller = requireKeyManager(callerOf(ctx));
      const violations: FieldViolation[] = [];
      const graceMs = checkGrace(req.gracePeriod, violations);
      InvalidArgumentError.throwIfAny(violations);
      const change = await db.transaction().execute(async (tx) => {
        const current = await lockKey(tx, caller, req.id, req.etag);
        // deleted_at is when verification stops; the key leaves every management call right away.
        await updateApiKey(tx, current.id, { deleted_at: new Date(Date.now() + graceMs), previous_hash: null, previous_expires_at: null });
        await insertAuditEvent(tx, {
          workspace_id: caller.workspaceId,
          actor: caller,
          action: "delete",
          api_key_id: current.id,
          changes: [
            { field: "name", old: current.name },
            ...(graceMs > 0 ? [{ field: "grace_period_seconds", new: graceMs / 1000 }] : []),
          ],
        });
        const change = await recordChange(tx, [current.id]);
        rollBackPastDeadline(ctx);
        return change;
      });
      // Answered once every replica refuses the key (or, with a grace period, knows when to).
      await deps.awaitConfirmation(change, `API key "${req.id}" is deleted`);
      return {};
    },

    async rotateApiKey(req, ctx) {
      const caller = requireKeyManager(callerOf(ctx));
      const violations: FieldViolation[] = [];
      const graceMs = checkGrace(req.gracePeriod, violations);
      const token = tokenFrom(req.keyMaterial, "key_material", violations, req.id);
      InvalidArgumentError.throwIfAny(violations);
      const hash = await hasher.hash(token);
      const { row, change } = await db.transaction().execute(async (tx) => {
        const current = await lockKey(tx, caller, req.id, req.etag);
        if (req.keyMaterial !== "" && (await hasher.verify(current.hash, token))) {
          throw new InvalidArgumentError([{ field: "key_material", description: "must differ from the key's current secret; mint new key material" }]);
        }
        const hint = tokenHint(token, keyPrefix);
        const updated = await updateApiKey(tx, current.id, {
          hash,
          hint,
          previous_hash: graceMs > 0 ? current.hash : null,
          previous_expires_at: graceMs > 0 ? new Date(Date.now() + graceMs) : null,
        });
        await insertAuditEvent(tx, {
          workspace_id: caller.workspaceId,
          actor: caller,
          action: "rotate",
          api_key_id: current.id,
          changes: [
            { field: "hint", old: current.hint, new: hint },
            { field: "grace_period_seconds", new: graceMs / 1000 },
          ],
        });
        const change = await recordChange(tx, [current.id]);
        rollBackPastDeadline(ctx);
        return { row: updated, change };
      });
      // Answered once every replica refuses the old secret (or, with a grace period, knows until when).
      await deps.awaitConfirmation(change, `API key "${row.id}" is rotated`).catch((err: unknown) => {
        // A secret the server minted exists only in this answer: without it the key would have no
        // secret anyone knows, which is worse than an old secret cached a moment longer (logged).
        if (!(err instanceof UnconfirmedChangeError) || req.keyMaterial !== "") throw err;
      });
      return { apiKey: await withCreatorName(apiKeyRowToProto(row, await catalogNames())), secret: req.keyMaterial === "" ? token : "" };
    },

    async listScopes() {
      return { scopes: (await listScopes(db)).map((s) => ({ name: s.name, description: s.description, createTime: timestampFromDate(s.created_at) })) };
    },

    verifyApiKey(req, ctx) {
      const caller = callerOf(ctx);
      const { workspaceId } = requireVerifier(caller);
      const result = deps.verify({ token: req.key, requiredScopes: req.requiredScopes, visibleWorkspace: workspaceId });
      // A cached verification is answered without a promise (see createVerifier).
      return result instanceof Promise ? result.then((r) => verificationToProto(r, ctx, caller)) : verificationToProto(result, ctx, caller);
    },

    async listAuditEvents(req, ctx) {
      const caller = requireKeyManager(callerOf(ctx));
      const limit = pageSize(req.pageSize);
      const cursor = decodePageToken(req.pageToken, { id: isBigintText });
      const rows = await listAuditEvents(db, { workspaceId: caller.workspaceId, limit: limit + 1, beforeId: cursor?.id, apiKeyId: req.apiKeyId || undefined });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        events: page.map(auditEventRowToProto),
        nextPageToken: rows.length > limit && last ? encodePageToken({ id: String(last.id) }) : "",
      };
    },
  };
}

/**
 * The answer to VerifyApiKey; notes on the call's log line whether the cache decided. An answer
 * about a key whose secret matched may be sent again for the same call (see answer-cache.ts) while
 * what it was computed from stays unchanged.
 */
function verificationToProto(result: Verification, ctx: HandlerContext, caller: Caller) {
  const fields = ctx.values.get(logFieldsKey);
  if (fields) fields.cache = result.cached ? "hit" : "miss";
  if (result.entry && isCachedCaller(caller)) ctx.values.set(reusableAnswerKey, { key: result.entry, caller, catalog: result.catalog, status: result.status });
  return {
    valid: result.status === "valid",
    status: STATUS[result.status],
    keyId: result.key?.id ?? "",
    workspaceId: result.key?.workspaceId ?? "",
    access: result.key ? accessToProto(result.key.access) : undefined,
    // Frozen arrays, handed over as they are: the answer is serialized and dropped, and a write to
    // them would throw rather than change the cache.
    scopes: (result.key?.scopes ?? NONE) as string[],
    missingScopes: (result.missingScopes ?? NONE) as string[],
    legacy: result.key?.legacy ?? false,
  };
}

const NONE: readonly string[] = Object.freeze([]);
