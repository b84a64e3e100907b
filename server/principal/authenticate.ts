// Bearer-token and session authentication. Tokens are in the key format with the principal prefix
// (`akp`), browser sessions (server/session) with theirs (`aks`), so a malformed one is refused
// without touching the database. Both are rows of principal_tokens and take the same path here. A
// token checked once is served from the cache afterwards: argon2 runs once per token per replica,
// not once per call. Revoking a principal's tokens (which ends its sessions too) or signing out
// evicts it everywhere (subject `principal:<id>`), and the entry's TTL (capped at a session's
// end) bounds the rest.
// A token's id is public like a key's, and its checks share the keys' argon2 pool, so a flood of
// wrong tokens for one id must not lock its holder out (a service, say, that sends its token with
// every VerifyApiKey): as for keys (see verifier.ts and known-secrets.ts), each token id remembers
// the secret that last passed argon2; presented again it is decided from the freshly read row with
// no argon2 while nothing changed about the principal, and otherwise goes ahead of queued guesses.
import { parseToken } from "../../contract/key-format.js";
import { PRINCIPAL_TOKEN_PREFIX, SESSION_TOKEN_PREFIX } from "../config.js";
import type { Db } from "../db/database.js";
import { UnauthenticatedError } from "../errors.js";
import type { UpgradeHash } from "../hash-upgrade.js";
import type { Hasher } from "../hashing.js";
import { principalSubject } from "../replica/change.repository.js";
import { csrfTokenOf } from "../session/csrf.js";
import { findActiveSession } from "../session/session.repository.js";
import type { Argon2Pool } from "../verify/argon2-pool.js";
import { createKnownSecrets } from "../verify/known-secrets.js";
import { createSingleFlight } from "../verify/single-flight.js";
import type { VerificationCache } from "../verify/verification-cache.js";
import type { Caller } from "./caller.js";
import { findActiveToken } from "./principal.repository.js";

/** A cached token's caller comes back at once; otherwise a promise. Refusals throw UnauthenticatedError. */
export type Authenticate = (authorization: string | null) => Caller | Promise<Caller>;

/** A credential itself (a principal token, a session cookie's value) to its caller, as Authenticate answers. */
export type AuthenticateToken = (token: string) => CachedCaller | Promise<CachedCaller>;

/** A caller as the cache keeps it. */
export type CachedCaller = Caller & { readonly subject: string; readonly expiresAt: number };

/** Whether `caller` is what this authenticator gave (callers are typed as plain Callers in a call's context). */
export const isCachedCaller = (caller: Caller): caller is CachedCaller => "subject" in caller && "expiresAt" in caller;

/** The three ways in: the authorization header, a principal token (SignIn's), a session cookie's value. */
export interface Authenticator {
  readonly bearer: Authenticate;
  readonly token: AuthenticateToken;
  readonly session: AuthenticateToken;
}

interface AuthenticatorDeps {
  readonly db: Db;
  readonly hasher: Hasher;
  readonly upgradeHash: UpgradeHash;
  readonly cache: VerificationCache<CachedCaller>;
  readonly pool: Argon2Pool;
  /** How long a checked token is served from the cache at most, used or not. */
  readonly cacheMaxAgeMs: number;
  /** Most tokens whose last verified secret is remembered (see known-secrets.ts). */
  readonly maxKnown: number;
}

const INVALID_TOKEN = new UnauthenticatedError("invalid or revoked token");
const INVALID_SESSION = new UnauthenticatedError(
  "your session is not valid: it was signed out or revoked, or the cookie is not one this server set; sign in again",
);

/** Builds the authenticator: a credential in, caller out, or UnauthenticatedError. */
export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  const { db, hasher, cache } = deps;
  const shared = createSingleFlight<CachedCaller>();
  // A token's id → its last verified secret.
  const known = createKnownSecrets({ cache, maxAgeMs: deps.cacheMaxAgeMs, maxEntries: deps.maxKnown });

  /** The argon2 path, for a token or session not in the cache. */
  async function check(token: string, isSession: boolean): Promise<CachedCaller> {
    const generation = cache.generation();
    const parsed = parseToken(token, isSession ? SESSION_TOKEN_PREFIX : PRINCIPAL_TOKEN_PREFIX);
    const invalid = isSession ? INVALID_SESSION : INVALID_TOKEN;
    if (!parsed) throw invalid;
    const mac = known.mac(token);
    const recalled = known.recall(parsed.id, mac);
    const row = isSession ? await findActiveSession(db, parsed.id) : await findActiveToken(db, parsed.id);
    if (!row) throw invalid;
    const subject = principalSubject(row.id);
    // Nothing changed since its check and the same stored hash: no second argon2 check is needed.
    const fromMemory = recalled?.fresh === true && recalled.last.hash === row.hash;
    if (!fromMemory) {
      if (!(await deps.pool.run(subject, () => hasher.verify(row.hash, token), recalled !== undefined))) {
        if (recalled) known.forget(parsed.id, recalled.last);
        throw invalid;
      }
      known.remember(parsed.id, { mac, hash: row.hash, subject, generation });
      deps.upgradeHash({ table: "principal_tokens", column: "hash", id: parsed.id, hash: row.hash }, token);
    }
    // A decision from a remembered check keeps that check's age.
    let expiresAt = (fromMemory ? recalled.last.checkedAt : Date.now()) + deps.cacheMaxAgeMs;
    let session: Caller["session"];
    if (isSession) {
      // The schema gives every session both; a row without them is never taken for one.
      if (!row.expires_at || !row.session_method) throw invalid;
      const ends = row.expires_at;
      if (ends.getTime() <= Date.now()) throw new UnauthenticatedError(`your session expired at ${ends.toISOString()}; sign in again`);
      session = { id: parsed.id, expiresAt: ends, method: row.session_method, csrfToken: csrfTokenOf(token) };
      expiresAt = Math.min(expiresAt, ends.getTime());
    }
    const caller: CachedCaller = {
      id: row.id,
      name: row.name,
      kind: row.kind,
      workspaceId: row.workspace_id,
      role: row.role,
      ...(session && { session }),
      subject,
      expiresAt,
    };
    cache.set(token, caller, generation);
    return caller;
  }

  // Shared only while nothing was evicted since the check began (a revocation then starts afresh).
  // Tokens and sessions share the cache; their prefixes differ, but a hit is taken only as the kind
  // of credential asked for, so a session's value is never a bearer token nor the reverse.
  const token: AuthenticateToken = (value) => {
    const hit = cache.get(value);
    return hit !== undefined && hit.session === undefined ? hit : shared(`${cache.generation()}\u0000${value}`, () => check(value, false));
  };
  const session: AuthenticateToken = (value) => {
    const hit = cache.get(value);
    return hit?.session !== undefined ? hit : shared(`${cache.generation()}\u0000${value}`, () => check(value, true));
  };
  const bearer: Authenticate = (authorization) => {
    if (!authorization) {
      throw new UnauthenticatedError('missing credentials: send "authorization: Bearer <token>", or sign in to the API keys page');
    }
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!match?.[1]) {
      throw new UnauthenticatedError('malformed authorization header: expected "Bearer <token>"');
    }
    return token(match[1]);
  };
  return { bearer, token, session };
}
