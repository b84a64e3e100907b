// The verification path: parse and checksum with no I/O, look the key up by its public id, check
// the secret with argon2, then decide the scopes. Problems with the key are a status, not an error.
import { parseToken } from "../../contract/key-format.js";
import { findApiKeyById } from "../api-key/api-key.repository.js";
import type { Access, ApiKeyRow } from "../api-key/api-key.table.js";
import type { Db } from "../db/database.js";
import type { UpgradeHash } from "../hash-upgrade.js";
import type { Hasher } from "../hashing.js";
import { legacyHint, legacySecretProblem } from "../legacy/legacy-hint.js";
import type { LegacyHintCache } from "../legacy/legacy-hint-cache.js";
import { findLegacyKeysByHint } from "../legacy/legacy-key.repository.js";
import { listScopes } from "../scope/scope.repository.js";
import { effectiveScopes, missingScopes } from "../scope/scope-rules.js";
import type { LastUsedRecorder } from "./last-used.js";

export type VerifyStatus = "valid" | "malformed" | "not_found" | "revoked" | "expired" | "insufficient_scope";

/** The decision, with key details only when the key was found and its secret matched. */
export interface Verification {
  readonly status: VerifyStatus;
  readonly key?: {
    readonly id: string;
    readonly workspaceId: string;
    readonly access: Access;
    readonly scopes: readonly string[];
    readonly legacy: boolean;
  };
  readonly missingScopes?: readonly string[];
}

export interface VerifyRequest {
  readonly token: string;
  readonly requiredScopes: readonly string[];
  /** Keys of other workspaces are answered as not found; null sees every workspace. */
  readonly visibleWorkspace: string | null;
}

export type Verifier = (request: VerifyRequest) => Promise<Verification>;

interface VerifierDeps {
  readonly db: Db;
  readonly hasher: Hasher;
  readonly upgradeHash: UpgradeHash;
  readonly keyPrefix: string;
  readonly lastUsed: LastUsedRecorder;
  readonly legacyHints: LegacyHintCache;
}

const NOT_FOUND: Verification = Object.freeze({ status: "not_found" });

/** Builds the verifier. */
export function createVerifier(deps: VerifierDeps): Verifier {
  const { db, hasher } = deps;

  async function decide(
    key: { id: string; workspace_id: string; access: Access; scopes: readonly string[] },
    required: readonly string[],
    legacy: boolean,
  ): Promise<Verification> {
    // The catalog matters only for FULL keys: they pass exactly what exists now.
    const catalog = key.access === "full" ? (await listScopes(db)).map((s) => s.name) : [];
    const missing = missingScopes(key.access, key.scopes, new Set(catalog), required);
    return {
      status: missing.length > 0 ? "insufficient_scope" : "valid",
      key: {
        id: key.id,
        workspaceId: key.workspace_id,
        access: key.access,
        scopes: effectiveScopes(key.access, key.scopes, catalog),
        legacy,
      },
      ...(missing.length > 0 ? { missingScopes: missing } : {}),
    };
  }

  /** Which stored secret the token matches, upgrading an outdated hash in passing. */
  async function matchSecret(row: ApiKeyRow, token: string): Promise<"current" | "previous" | "expired" | "none"> {
    if (await hasher.verify(row.hash, token)) {
      deps.upgradeHash({ table: "api_keys", column: "hash", id: row.id, hash: row.hash }, token);
      return "current";
    }
    if (row.previous_hash && (await hasher.verify(row.previous_hash, token))) {
      if (!(row.previous_expires_at && row.previous_expires_at > new Date())) return "expired";
      deps.upgradeHash({ table: "api_keys", column: "previous_hash", id: row.id, hash: row.previous_hash }, token);
      return "previous";
    }
    return "none";
  }

  async function verifyLegacy(request: VerifyRequest): Promise<Verification> {
    const { token, visibleWorkspace } = request;
    if (legacySecretProblem(token) || !deps.legacyHints.has(legacyHint(token))) return { status: "malformed" };
    let revoked = false;
    // Active rows come first, so a revoked import of the same secret never hides an active one.
    for (const row of await findLegacyKeysByHint(db, legacyHint(token))) {
      if (visibleWorkspace && row.workspace_id !== visibleWorkspace) continue;
      if (!(await hasher.verify(row.hash, token))) continue;
      if (row.revoked_at) {
        revoked = true;
        continue;
      }
      deps.upgradeHash({ table: "legacy_keys", column: "hash", id: row.id, hash: row.hash }, token);
      deps.lastUsed.record("legacy_keys", row.id);
      return decide({ id: row.id, workspace_id: row.workspace_id, access: "full", scopes: [] }, request.requiredScopes, true);
    }
    return revoked ? { status: "revoked" } : NOT_FOUND;
  }

  return async (request) => {
    const parsed = parseToken(request.token, deps.keyPrefix);
    if (!parsed) return verifyLegacy(request);
    const row = await findApiKeyById(db, parsed.id);
    // Another workspace's key is answered exactly like a missing one, before any argon2 work.
    if (!row || (request.visibleWorkspace && row.workspace_id !== request.visibleWorkspace)) return NOT_FOUND;
    const match = await matchSecret(row, request.token);
    if (match === "none") return NOT_FOUND;
    if (row.deleted_at && row.deleted_at <= new Date()) return { status: "revoked" };
    if (match === "expired") return { status: "expired" };
    deps.lastUsed.record("api_keys", row.id);
    return decide(row, request.requiredScopes, false);
  };
}
