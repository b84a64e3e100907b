// Bearer-token authentication. Tokens are in the key format with the principal prefix, so a
// malformed one is refused without touching the database. A token checked once is served from
// the cache afterwards: argon2 runs once per token per replica, not once per call. Revoking a
// principal's tokens evicts it everywhere (subject `principal:<id>`), and the entry's TTL bounds
// the rest.
// A token's id is public like a key's, and its checks share the keys' argon2 pool, so a flood of
// wrong tokens for one id must not lock its holder out (a service, say, that sends its token with
// every VerifyApiKey): as for keys (see verifier.ts and known-secrets.ts), each token id remembers
// the secret that last passed argon2; presented again it is decided from the freshly read row with
// no argon2 while nothing changed about the principal, and otherwise goes ahead of queued guesses.
import { parseToken } from "../../contract/key-format.js";
import { PRINCIPAL_TOKEN_PREFIX } from "../config.js";
import type { Db } from "../db/database.js";
import { UnauthenticatedError } from "../errors.js";
import type { UpgradeHash } from "../hash-upgrade.js";
import type { Hasher } from "../hashing.js";
import { principalSubject } from "../replica/change.repository.js";
import type { Argon2Pool } from "../verify/argon2-pool.js";
import { createKnownSecrets } from "../verify/known-secrets.js";
import { createSingleFlight } from "../verify/single-flight.js";
import type { VerificationCache } from "../verify/verification-cache.js";
import type { Caller } from "./caller.js";
import { findActiveToken } from "./principal.repository.js";

/** A cached token's caller comes back at once; otherwise a promise. Refusals throw UnauthenticatedError. */
export type Authenticate = (authorization: string | null) => Caller | Promise<Caller>;

/** A caller as the cache keeps it. */
export type CachedCaller = Caller & { readonly subject: string; readonly expiresAt: number };

/** Whether `caller` is what this authenticator gave (callers are typed as plain Callers in a call's context). */
export const isCachedCaller = (caller: Caller): caller is CachedCaller => "subject" in caller && "expiresAt" in caller;

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

/** Builds the authenticator: header in, caller out, or UnauthenticatedError. */
export function createAuthenticator(deps: AuthenticatorDeps): Authenticate {
  const { db, hasher, cache } = deps;
  const shared = createSingleFlight<CachedCaller>();
  // A token's id → its last verified secret.
  const known = createKnownSecrets({ cache, maxAgeMs: deps.cacheMaxAgeMs, maxEntries: deps.maxKnown });

  /** The argon2 path, for a token not in the cache. */
  async function check(token: string): Promise<CachedCaller> {
    const generation = cache.generation();
    const parsed = parseToken(token, PRINCIPAL_TOKEN_PREFIX);
    const invalid = new UnauthenticatedError("invalid or revoked token");
    if (!parsed) throw invalid;
    const mac = known.mac(token);
    const recalled = known.recall(parsed.id, mac);
    const row = await findActiveToken(db, parsed.id);
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
    const caller: CachedCaller = {
      id: row.id,
      name: row.name,
      kind: row.kind,
      workspaceId: row.workspace_id,
      role: row.role,
      subject,
      // A decision from a remembered check keeps that check's age.
      expiresAt: (fromMemory ? recalled.last.checkedAt : Date.now()) + deps.cacheMaxAgeMs,
    };
    cache.set(token, caller, generation);
    return caller;
  }

  return (authorization) => {
    if (!authorization) {
      throw new UnauthenticatedError('missing credentials: send "authorization: Bearer <token>"');
    }
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!match?.[1]) {
      throw new UnauthenticatedError('malformed authorization header: expected "Bearer <token>"');
    }
    const token = match[1];
    // Shared only while nothing was evicted since the check began (a revocation then starts afresh).
    return cache.get(token) ?? shared(`${cache.generation()}\u0000${token}`, () => check(token));
  };
}
