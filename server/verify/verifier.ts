// The verification path: the cache, which decides a repeated verification with no I/O (a token is
// cached only once checked in full, so a hit needs no parsing); on a miss, parse and checksum with
// no I/O, then the row by its public id (one query for the ids of many concurrent misses, as after
// a restart) and one argon2 check in the bounded pool, whose result fills the cache unless the key
// changed meanwhile. Then the scopes.
// A secret found wrong for an existing key is cached too (a CachedRefusal). Problems with the key
// are a status, not an error.
//
// A key's id is public (it is in every hint), so anyone can flood the pool with wrong secrets for
// it. Its holder still gets through: each key id remembers the secret that last passed argon2
// here, as an HMAC (see known-secrets.ts). Presented again, that secret goes ahead of every queued
// guess and is never refused for a full line; and while nothing changed about the key since that
// check (the cache's own invalidation: every change, a lost listener, the cache turned off), and
// for no longer than a cache entry may live (APIKEYS_CACHE_MAX_AGE_MS), it is decided from the
// freshly read row with no argon2 at all, so a TTL expiry or an eviction from a full cache costs
// the holder one query, not a place in the flood's queue. Every key generation still gets one
// real argon2 check of the secret, and a remembered secret counts only against the very hash it
// matched. Legacy keys, found by their hint, are handled the same way. (Priority for "secrets that never failed" would not help: every fresh
// guess has never failed. Fair queueing alone neither: the holder's secret would still queue
// behind the guesses for its own id.) A secret this replica has not checked yet (first use, after
// a restart, a new secret) waits its turn first come, first served, behind at most
// APIKEYS_ARGON2_MAX_QUEUED_PER_KEY guesses.
import { parseToken } from "../../contract/key-format.js";
import { findApiKeysByIds } from "../api-key/api-key.repository.js";
import type { Access, ApiKeyRow } from "../api-key/api-key.table.js";
import { createBatchedLookup } from "../db/batched-lookup.js";
import type { Db } from "../db/database.js";
import type { UpgradeHash } from "../hash-upgrade.js";
import type { Hasher } from "../hashing.js";
import { legacyHint, legacySecretProblem } from "../legacy/legacy-hint.js";
import type { LegacyHintCache } from "../legacy/legacy-hint-cache.js";
import { findLegacyKeysByHint } from "../legacy/legacy-key.repository.js";
import { keySubject, legacySubject } from "../replica/change.repository.js";
import type { CatalogSnapshot, ScopeCatalog } from "../scope/scope-catalog.js";
import { missingScopes } from "../scope/scope-rules.js";
import type { Argon2Pool } from "./argon2-pool.js";
import { createKnownSecrets } from "./known-secrets.js";
import type { LastUsedRecorder } from "./last-used.js";
import { createSingleFlight } from "./single-flight.js";
import type { CachedKey, CachedRefusal, VerificationCache } from "./verification-cache.js";

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
  /** True when the cache decided, with no database work. */
  readonly cached?: boolean;
  /** The key's cache entry, when the key was found and its secret matched: what a kept answer stands on. */
  readonly entry?: CachedKey;
  /** The catalog a FULL key was decided against. */
  readonly catalog?: CatalogSnapshot;
}

export interface VerifyRequest {
  readonly token: string;
  readonly requiredScopes: readonly string[];
  /** Keys of other workspaces are answered as not found; null sees every workspace. */
  readonly visibleWorkspace: string | null;
}

/** A verification the cache decides comes back at once; otherwise a promise. */
export type Verifier = (request: VerifyRequest) => Verification | Promise<Verification>;

interface VerifierDeps {
  readonly db: Db;
  readonly hasher: Hasher;
  readonly upgradeHash: UpgradeHash;
  readonly keyPrefix: string;
  readonly lastUsed: LastUsedRecorder;
  readonly legacyHints: LegacyHintCache;
  readonly cache: VerificationCache;
  readonly catalog: ScopeCatalog;
  readonly pool: Argon2Pool;
  /** How long a checked token is served from the cache at most, used or not. */
  readonly cacheMaxAgeMs: number;
  /** Most keys whose last verified secret is remembered (see known-secrets.ts). */
  readonly maxKnown: number;
}

type Match = "current" | "previous" | "expired" | "none";

const NOT_FOUND: Verification = Object.freeze({ status: "not_found" });
const REFUSED_FROM_CACHE: Verification = Object.freeze({ status: "not_found", cached: true });
// At most this many remembered wrong secrets wait for their answer at a time; past that they are
// answered at once, so that a flood cannot pile up held calls.
const MAX_HELD_REFUSALS = 10_000;
const RELEASE_TICK_MS = 5;
const MALFORMED: Verification = Object.freeze({ status: "malformed" });
// A few of the database pool's 10 connections, so that other work always finds one; 500 ids a
// query keep each one short.
const KEY_ROW_BATCHES = { maxInFlight: 4, maxBatch: 500 };

/** Builds the verifier. */
export function createVerifier(deps: VerifierDeps): Verifier {
  const { db, hasher, cache, pool } = deps;

  function decide(key: CachedKey, required: readonly string[], cached: boolean): Verification | Promise<Verification> {
    // The catalog matters only for FULL keys: they pass exactly what exists now.
    if (key.access !== "full") return decideWith(key, undefined, required, cached);
    const catalog = deps.catalog.current();
    return catalog instanceof Promise ? catalog.then((c) => decideWith(key, c, required, cached)) : decideWith(key, catalog, required, cached);
  }

  function decideWith(key: CachedKey, catalog: CatalogSnapshot | undefined, required: readonly string[], cached: boolean): Verification {
    const missing = missingScopes(key.access, key.scopes, catalog?.set ?? EMPTY_SET, required);
    recordUse(deps.lastUsed, key);
    return {
      status: missing.length > 0 ? "insufficient_scope" : "valid",
      key: { id: keyIdOf(key), workspaceId: key.workspaceId, access: key.access, scopes: catalog?.names ?? key.scopes, legacy: key.legacy },
      missingScopes: missing.length > 0 ? Object.freeze(missing) : undefined,
      cached,
      entry: key,
      catalog,
    };
  }

  /** Which stored secret the token matches, upgrading an outdated hash in passing. */
  async function matchSecret(row: ApiKeyRow, token: string): Promise<Match> {
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

  async function verifyLegacy(token: string, visibleWorkspace: string | null, generation: number): Promise<CachedKey | Verification> {
    if (legacySecretProblem(token) || !deps.legacyHints.has(legacyHint(token))) return MALFORMED;
    const mac = known.mac(token);
    let revoked = false;
    // Active rows come first, so a revoked import of the same secret never hides an active one.
    for (const row of await findLegacyKeysByHint(db, legacyHint(token))) {
      if (visibleWorkspace && row.workspace_id !== visibleWorkspace) continue;
      const subject = legacySubject(row.id);
      // As for keys (see check): the secret last verified for this row skips the guesses' line.
      const recalled = known.recall(subject, mac);
      const fromMemory = recalled?.fresh === true && recalled.last.hash === row.hash;
      if (!fromMemory && !(await pool.run(subject, () => hasher.verify(row.hash, token), recalled !== undefined))) {
        if (recalled) known.forget(subject, recalled.last);
        continue;
      }
      if (!fromMemory) known.remember(subject, { mac, hash: row.hash, subject, generation });
      if (row.revoked_at) {
        revoked = true;
        continue;
      }
      if (!fromMemory) deps.upgradeHash({ table: "legacy_keys", column: "hash", id: row.id, hash: row.hash }, token);
      const checkedAt = fromMemory ? recalled.last.checkedAt : Date.now();
      const key: CachedKey = { subject, workspaceId: row.workspace_id, access: "full", scopes: [], legacy: true, expiresAt: checkedAt + deps.cacheMaxAgeMs };
      cache.set(token, key, generation);
      return key;
    }
    return revoked ? { status: "revoked" } : NOT_FOUND;
  }

  // A key's (or legacy key's) subject → its last verified secret.
  const known = createKnownSecrets({ cache, maxAgeMs: deps.cacheMaxAgeMs, maxEntries: deps.maxKnown });
  // Key rows for cache misses, many keys per query when many miss at once (after a restart).
  const findKeyRow = createBatchedLookup((ids) => findApiKeysByIds(db, ids), KEY_ROW_BATCHES);

  /** What the row says of a secret known to have matched `hash`, or undefined if no stored hash is it any more. */
  function matchKnown(row: ApiKeyRow, hash: string): Match | undefined {
    if (hash === row.hash) return "current";
    if (hash !== row.previous_hash) return undefined;
    return row.previous_expires_at && row.previous_expires_at > new Date() ? "previous" : "expired";
  }

  const shared = createSingleFlight<CachedKey | Verification>();
  let heldRefusals = 0;
  // Held refusals by the tick they are released at: one timer per tick, not one per refusal, so
  // that a flood wakes the event loop (and writes its answers) at most once per tick.
  const releases = new Map<number, Array<(v: Verification) => void>>();

  /** "Not found" for a remembered wrong secret, no sooner than the check that found it took. */
  function refuse(refusal: CachedRefusal): Verification | Promise<Verification> {
    if (heldRefusals >= MAX_HELD_REFUSALS) return REFUSED_FROM_CACHE;
    heldRefusals++;
    // Rounded up to the next tick, plus one millisecond: Node's timers can fire up to a
    // millisecond early against performance.now().
    const at = Math.ceil((performance.now() + refusal.checkMs + 1) / RELEASE_TICK_MS) * RELEASE_TICK_MS;
    return new Promise((resolve) => {
      const batch = releases.get(at);
      if (batch) return void batch.push(resolve);
      const waiting = [resolve];
      releases.set(at, waiting);
      setTimeout(() => {
        releases.delete(at);
        heldRefusals -= waiting.length;
        for (const release of waiting) release(REFUSED_FROM_CACHE);
      }, at - performance.now());
    });
  }

  return (request) => {
    const hit = cache.get(request.token);
    if (hit) return "refused" in hit ? refuse(hit) : answer(hit, request, true);
    // Concurrent misses for one token (and one visible workspace) share one check, but only while
    // nothing was evicted since it began: a call made after a delete returned never joins a check
    // that read the key before it.
    const { token, visibleWorkspace } = request;
    const found = shared(`${cache.generation()}\u0000${visibleWorkspace ?? ""}\u0000${token}`, () => check(token, visibleWorkspace));
    return found.then((f) => ("status" in f ? f : answer(f, request, false)));
  };

  function answer(key: CachedKey, request: VerifyRequest, cached: boolean): Promise<Verification> | Verification {
    // Another workspace's key is answered exactly like a missing one.
    if (request.visibleWorkspace && key.workspaceId !== request.visibleWorkspace) return NOT_FOUND;
    return decide(key, request.requiredScopes, cached);
  }

  /** The path of a token not in the cache: the key it verifies as, or the verification's outcome. */
  async function check(token: string, visibleWorkspace: string | null): Promise<CachedKey | Verification> {
    // Taken before any read: a change committed after this point evicts, and the result of this
    // miss is then not stored, so an old state can never come back into the cache.
    const generation = cache.generation();
    const parsed = parseToken(token, deps.keyPrefix);
    if (!parsed) return verifyLegacy(token, visibleWorkspace, generation);
    const subject = keySubject(parsed.id);
    const mac = known.mac(token);
    const recalled = known.recall(subject, mac);
    // Otherwise a key whose line is full of queued guesses is refused before any query.
    if (!recalled) pool.admit(parsed.id);
    const row = await findKeyRow(parsed.id);
    // Another workspace's key is answered exactly like a missing one, before any argon2 work.
    if (!row || (visibleWorkspace && row.workspace_id !== visibleWorkspace)) return NOT_FOUND;
    let checkMs = 0;
    // Same generation as its check and the same stored hash: no second argon2 check is needed.
    const fromMemory = recalled?.fresh ? matchKnown(row, recalled.last.hash) : undefined;
    const match = fromMemory ?? (await pool.run(
      row.id,
      async () => {
        const started = performance.now();
        try {
          return await matchSecret(row, token);
        } finally {
          checkMs = performance.now() - started;
        }
      },
      recalled !== undefined,
    ));
    const matched = match === "current" || match === "previous";
    if (matched && fromMemory === undefined) known.remember(subject, { mac, hash: match === "current" ? row.hash : row.previous_hash!, subject, generation });
    if (!matched && recalled) known.forget(subject, recalled.last);
    if (match === "none") {
      const refusal: CachedRefusal = { subject: keySubject(row.id), refused: true, checkMs, expiresAt: Date.now() + deps.cacheMaxAgeMs };
      cache.set(token, refusal, generation);
      return NOT_FOUND;
    }
    const now = Date.now();
    if (row.deleted_at && row.deleted_at.getTime() <= now) return { status: "revoked" };
    if (match === "expired") return { status: "expired" };
    // An entry never outlives the secret's grace (rotation) or the key's (deletion).
    // A decision from a remembered check keeps that check's age.
    let expiresAt = (fromMemory ? recalled!.last.checkedAt : now) + deps.cacheMaxAgeMs;
    if (match === "previous" && row.previous_expires_at) expiresAt = Math.min(expiresAt, row.previous_expires_at.getTime());
    if (row.deleted_at) expiresAt = Math.min(expiresAt, row.deleted_at.getTime());
    const key: CachedKey = { subject: keySubject(row.id), workspaceId: row.workspace_id, access: row.access, scopes: Object.freeze([...row.scopes]), legacy: false, expiresAt };
    cache.set(token, key, generation);
    return key;
  }
}

const EMPTY_SET: ReadonlySet<string> = new Set();
// A legacy key's cache subject is its id behind this prefix; the answer names the bare id.
const LEGACY_PREFIX = legacySubject("");

/** The id of the key a cache entry stands for, as answers name it. */
const keyIdOf = (key: CachedKey) => (key.legacy ? key.subject.slice(LEGACY_PREFIX.length) : key.subject);

/** Notes a use of the key a cache entry stands for, in the table it lives in. */
export function recordUse(lastUsed: LastUsedRecorder, key: CachedKey): void {
  lastUsed.record(key.legacy ? "legacy_keys" : "api_keys", keyIdOf(key));
}
