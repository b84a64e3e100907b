// The in-memory side of verification: what a token was found to be, so that a repeated
// verification costs a map lookup instead of a query and an argon2 check. Entries are keyed by an
// HMAC of the token with a key that lives only in this process, so the map never holds a secret.
//
// Correctness rules:
// - every change to a key evicts its entries on every replica (see server/replica), and a miss
//   that started before an eviction never stores its result (the generation check);
// - while this replica may have missed an eviction (its listener is down), the cache is off;
// - every entry expires once unused for the TTL, and in any case at its `expiresAt` (a cap counted
//   from its argon2 check, or earlier when the key's grace ends); the least recently used entry
//   goes first when the cache is full (approximately; see `get`).
// Because every change is pushed and confirmed, the TTL is a backstop, not the way changes arrive:
// counting it from the last use means a key in steady use is checked with argon2 once per replica
// and cap, so the cost of keeping N keys verified does not grow with N while nothing changes.
import type { Access } from "../api-key/api-key.table.js";
import { createTokenHmac } from "./token-hmac.js";

/** What a verified token stands for; enough to decide any scope check without I/O. */
export interface CachedKey {
  /** The key's id, or the principal's for a principal token: what evictions name. */
  readonly subject: string;
  readonly workspaceId: string;
  readonly access: Access;
  /** The key's own scopes (CUSTOM); FULL keys are decided against the in-memory catalog. */
  readonly scopes: readonly string[];
  readonly legacy: boolean;
  /** Milliseconds since the epoch after which the entry must not be used, however often it is. */
  readonly expiresAt: number;
}

/**
 * A secret found wrong for an existing key. Repeating it is answered "not found" from memory, no
 * sooner than the argon2 check that found it took: a flood of one wrong secret then costs neither
 * argon2 nor a query, and learns nothing faster than checking would. Evicted with its key.
 */
export interface CachedRefusal {
  readonly subject: string;
  readonly refused: true;
  /** How long the check that refused it took, in milliseconds. */
  readonly checkMs: number;
  readonly expiresAt: number;
}

export interface VerificationCacheOptions {
  /** An entry not used for this long is dropped (it is checked again on its next use). */
  readonly ttlMs: number;
  readonly maxEntries: number;
}

export interface VerificationCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly size: number;
  readonly enabled: boolean;
  /** Entries dropped, by why: a change to their subject, expiry, a full cache, the cache cleared or turned off. */
  readonly evictions: { readonly changed: number; readonly expired: number; readonly full: number; readonly cleared: number };
}

/** The cache; `T` is what a hit returns (a key, or a caller for principal tokens). */
export interface VerificationCache<T extends { subject: string; expiresAt: number } = CachedKey | CachedRefusal> {
  /** The cached result for `token`, or undefined (a miss, an expired entry, or the cache is off). */
  get(token: string): T | undefined;
  /** A marker taken before a miss reads the database; `set` ignores results older than an eviction. */
  generation(): number;
  /** Stores a result read since `generation`, unless its subject was evicted (or all) meanwhile. */
  set(token: string, value: T, generation: number): void;
  /** Whether what was read about `subject` at `generation` may be out of date now: evicted, cleared or off since. */
  changedSince(subject: string, generation: number): boolean;
  /** Drops every entry of `subject`; results read before now will not be stored. */
  evict(subject: string): void;
  /** Drops everything; results read before now will not be stored. */
  clear(): void;
  /** Off: nothing is served or stored (fail closed while evictions may be missed). Turning it on starts empty. */
  setEnabled(enabled: boolean): void;
  stats(): VerificationCacheStats;
}

/** Creates an empty cache. */
export function createVerificationCache<T extends { subject: string; expiresAt: number } = CachedKey | CachedRefusal>(
  options: VerificationCacheOptions,
): VerificationCache<T> {
  const keyOf = createTokenHmac();
  // Map order is insertion order, and each entry's stamp is its place in it: the first entry is
  // the least recent. A hit moves an entry to the back (a delete and a set, which also churn the
  // map's storage) only once half the limit's worth of entries were stored after it, so hits on
  // recent entries, the common case, leave the map alone. An entry used within the last
  // maxEntries / 2 stores is therefore never the one dropped.
  const entries = new Map<string, { readonly value: T; stamp: number; usedAt: number }>();
  const half = Math.ceil(options.maxEntries / 2);
  let stored = 0;
  // Each subject's entries: almost always one (a key has one secret but during a rotation's
  // grace), so a lone entry is kept as itself, which takes a fraction of a Set's memory.
  const bySubject = new Map<string, string | Set<string>>();
  // Generations: a counter bumped by every eviction, and when each subject was last evicted.
  let counter = 0;
  let clearedAt = 0;
  const evictedAt = new Map<string, number>();
  let enabled = true;
  let hits = 0;
  let misses = 0;
  const evictions = { changed: 0, expired: 0, full: 0, cleared: 0 };

  function remove(key: string, value: T): void {
    entries.delete(key);
    const keys = bySubject.get(value.subject);
    if (keys === key) bySubject.delete(value.subject);
    else if (typeof keys === "object") {
      keys.delete(key);
      if (keys.size === 0) bySubject.delete(value.subject);
    }
  }

  function changedSince(subject: string, generation: number): boolean {
    return !enabled || generation < clearedAt || generation < (evictedAt.get(subject) ?? 0);
  }

  function dropAll(): void {
    evictions.cleared += entries.size;
    entries.clear();
    bySubject.clear();
    evictedAt.clear();
    clearedAt = ++counter;
  }

  return {
    get(token) {
      if (!enabled) return undefined;
      const key = keyOf(token);
      const entry = entries.get(key);
      const now = Date.now();
      if (entry === undefined || entry.value.expiresAt <= now || entry.usedAt + options.ttlMs <= now) {
        if (entry !== undefined) {
          remove(key, entry.value);
          evictions.expired++;
        }
        misses++;
        return undefined;
      }
      entry.usedAt = now;
      if (stored - entry.stamp >= half) {
        entries.delete(key);
        entry.stamp = ++stored;
        entries.set(key, entry);
      }
      hits++;
      return entry.value;
    },

    generation: () => counter,

    set(token, value, generation) {
      if (changedSince(value.subject, generation)) return;
      const key = keyOf(token);
      const previous = entries.get(key);
      if (previous) remove(key, previous.value);
      entries.set(key, { value, stamp: ++stored, usedAt: Date.now() });
      const keys = bySubject.get(value.subject);
      if (keys === undefined) bySubject.set(value.subject, key);
      else if (typeof keys === "object") keys.add(key);
      else bySubject.set(value.subject, new Set([keys, key]));
      while (entries.size > options.maxEntries) {
        const [oldestKey, oldest] = entries.entries().next().value as [string, { value: T }];
        remove(oldestKey, oldest.value);
        evictions.full++;
      }
    },

    changedSince,

    evict(subject) {
      const keys = bySubject.get(subject);
      const before = entries.size;
      if (typeof keys === "string") entries.delete(keys);
      else for (const key of keys ?? []) entries.delete(key);
      evictions.changed += before - entries.size;
      bySubject.delete(subject);
      evictedAt.set(subject, ++counter);
      // The marks only matter to misses in flight; a bounded map keeps memory flat under churn.
      if (evictedAt.size > 100_000) dropAll();
    },

    clear: dropAll,

    setEnabled(on) {
      if (on === enabled) return;
      enabled = on;
      dropAll();
    },

    stats: () => ({ hits, misses, size: entries.size, enabled, evictions: { ...evictions } }),
  };
}
