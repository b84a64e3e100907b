// A public id (a key's, a legacy key's, a principal token's) lets anyone flood its argon2 line with
// wrong secrets. What lets its holder through: per id, an HMAC of the secret that last passed
// argon2 on this replica, with the hash it matched. Presented again, that secret may be decided
// from the freshly read row without argon2 while it is `fresh` (nothing changed about its cache
// subject since, and younger than a cache entry may be), and otherwise goes ahead of the queued
// guesses (the pool's `priority`). See the verifier's and the authenticator's header comments.
import { createTokenHmac } from "./token-hmac.js";
import type { VerificationCache } from "./verification-cache.js";

/** The secret that last passed argon2 for an id: an HMAC of it, the hash it matched, and when. */
export interface KnownSecret {
  readonly mac: string;
  readonly hash: string;
  /** The cache subject whose changes retire it (the key's, or the token's principal's). */
  readonly subject: string;
  /** The cache generation taken before the row it was checked against was read. */
  readonly generation: number;
  /** When the argon2 check passed (ms since the epoch); it stands for maxAgeMs at most, as a cache entry does. */
  readonly checkedAt: number;
}

/** A remembered check of the presented secret; `fresh` when it still stands without argon2. */
export interface Recalled {
  readonly last: KnownSecret;
  readonly fresh: boolean;
}

export interface KnownSecrets {
  /** The HMAC a secret is remembered and recalled by. */
  mac(token: string): string;
  /** The remembered check for `id`, if `mac` is of that secret. */
  recall(id: string, mac: string): Recalled | undefined;
  /** Remembers a secret that just passed argon2 against `hash`, unless its subject changed since `generation`. */
  remember(id: string, secret: Omit<KnownSecret, "checkedAt">): void;
  /** A remembered secret that no longer verifies loses its place ahead of the guesses. */
  forget(id: string, last: KnownSecret): void;
}

interface KnownSecretsOptions {
  /** The cache whose invalidation (every change, a lost listener, the cache turned off) retires a remembered check. */
  readonly cache: Pick<VerificationCache, "changedSince">;
  /** How long a remembered check stands at most (APIKEYS_CACHE_MAX_AGE_MS, as for a cache entry). */
  readonly maxAgeMs: number;
  /** Most ids remembered; the least recently remembered goes first. */
  readonly maxEntries: number;
}

/** Creates an empty memory of verified secrets. */
export function createKnownSecrets(options: KnownSecretsOptions): KnownSecrets {
  const { cache } = options;
  // Map order is recency, the oldest going first.
  const known = new Map<string, KnownSecret>();
  return {
    mac: createTokenHmac(),
    recall(id, mac) {
      const last = known.get(id);
      if (last === undefined || last.mac !== mac) return undefined;
      return { last, fresh: !cache.changedSince(last.subject, last.generation) && Date.now() < last.checkedAt + options.maxAgeMs };
    },
    remember(id, secret) {
      // Like the cache, only what nothing changed since is remembered.
      if (cache.changedSince(secret.subject, secret.generation)) return;
      known.delete(id);
      known.set(id, { ...secret, checkedAt: Date.now() });
      if (known.size > options.maxEntries) known.delete(known.keys().next().value as string);
    },
    forget(id, last) {
      if (known.get(id) === last) known.delete(id);
    },
  };
}
