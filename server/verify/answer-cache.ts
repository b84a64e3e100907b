// Whole VerifyApiKey answers on the gRPC port, kept so that a service repeating a call (the same
// authorization header, the same request bytes) is sent the same encoded answer again. A hit costs
// one HMAC and a map lookup, where the full path decodes the request, hashes both tokens, decides
// the scopes and encodes the answer; that difference is most of what a cached verification cost
// above the server's cheapest call.
//
// Like the key and caller caches it is keyed by an HMAC (of the header and the request), so it
// never holds a secret. Nothing evicts it directly: a kept answer is sent only while what it was
// computed from is unchanged (the key's and the caller's cache entries, which the replica listener
// evicts, and for a FULL key the scope catalog), and while both entries would last. One found out
// of date is dropped when next looked up; the oldest go first when the cache is full.
// Answers are kept only when the implementation says so, through `reusableAnswerKey`, and only
// short ones: one naming many scopes would cost more memory than it saves time.
import { createContextKey } from "@connectrpc/connect";
import type { AnswerCache } from "../../contract/grpc-adapter.js";
import type { CachedCaller } from "../principal/authenticate.js";
import type { CatalogSnapshot, ScopeCatalog } from "../scope/scope-catalog.js";
import { createTokenHmac } from "./token-hmac.js";
import type { CachedKey, VerificationCache } from "./verification-cache.js";
import type { VerifyStatus } from "./verifier.js";

/** What an answer was computed from; set by an implementation whose answer may be sent again. */
export interface ReusableAnswer {
  readonly key: CachedKey;
  readonly caller: CachedCaller;
  /** The catalog a FULL key's answer was decided against; undefined for a CUSTOM key. */
  readonly catalog: CatalogSnapshot | undefined;
  /** What the answer says (valid, or insufficient_scope), counted again with each reuse. */
  readonly status: VerifyStatus;
}

/** The longest answer kept, in bytes: a CUSTOM key's with a few scopes, or a FULL key's with a catalog of a dozen. */
export const MAX_KEPT_ANSWER_BYTES = 256;

export const reusableAnswerKey = createContextKey<ReusableAnswer | undefined>(undefined, { description: "answer may be reused" });

export interface KeptAnswer extends ReusableAnswer {
  /** The encoded answer as a Latin-1 string, which takes less memory than a Buffer of it. */
  readonly bytes: string;
  /** The key and caller caches' generations when the call began: a change since means stale. */
  readonly keyGeneration: number;
  readonly callerGeneration: number;
}

/** A call that missed: the caches' generations before anything was read, and the slot it would take. */
interface Miss {
  readonly slot: string;
  readonly keyGeneration: number;
  readonly callerGeneration: number;
}

export interface VerifyAnswerCache extends AnswerCache<Miss> {
  /** Answers sent again; calls looked up and not found current; answers dropped out of date (changed or expired) or for room; answers kept. */
  stats(): { readonly hits: number; readonly misses: number; readonly size: number; readonly evictions: { readonly stale: number; readonly full: number } };
}

interface AnswerCacheDeps {
  readonly keys: VerificationCache;
  readonly callers: VerificationCache<CachedCaller>;
  readonly catalog: ScopeCatalog;
  /** Most answers kept; the oldest go first. */
  readonly maxEntries: number;
  /**
   * Told of every answer sent again (to record the key's use), with when its lookup began
   * (performance.now(), or 0 unless `timed`).
   */
  readonly onReuse: (answer: KeptAnswer, startedMs: number) => void;
  /** Whether onReuse needs the lookup's start: the clock is read on every lookup only for metrics. */
  readonly timed: boolean;
}

/** An empty answer cache. */
export function createAnswerCache(deps: AnswerCacheDeps): VerifyAnswerCache {
  const { keys, callers, catalog } = deps;
  const slotOf = createTokenHmac();
  const kept = new Map<string, KeptAnswer>();
  let hits = 0;
  let misses = 0;
  const evictions = { stale: 0, full: 0 };

  // Good while neither entry it stands on has expired or changed, nor (FULL) the catalog.
  const current = (answer: KeptAnswer) =>
    Math.min(answer.key.expiresAt, answer.caller.expiresAt) > Date.now() &&
    !keys.changedSince(answer.key.subject, answer.keyGeneration) &&
    !callers.changedSince(answer.caller.subject, answer.callerGeneration) &&
    (answer.catalog === undefined || answer.catalog === catalog.current());

  return {
    lookup(call, request) {
      const started = deps.timed ? performance.now() : 0;
      const keyGeneration = keys.generation();
      const callerGeneration = callers.generation();
      const header = call.metadata.get("authorization");
      // A call with other than one authorization header is not kept: it is never worth it.
      if (header.length !== 1 || typeof header[0] !== "string") return undefined;
      // No NUL can occur in an HTTP/2 header value, so header and request are told apart.
      const slot = slotOf(`${header[0]}\u0000${request.toString("latin1")}`);
      const answer = kept.get(slot);
      if (answer !== undefined) {
        if (current(answer)) {
          hits++;
          deps.onReuse(answer, started);
          return Buffer.from(answer.bytes, "latin1");
        }
        kept.delete(slot);
        evictions.stale++;
      }
      misses++;
      return { slot, keyGeneration, callerGeneration };
    },

    offer(miss, bytes, ctx) {
      const reuse = ctx.values.get(reusableAnswerKey);
      if (reuse === undefined || bytes.length > MAX_KEPT_ANSWER_BYTES) return;
      const answer: KeptAnswer = {
        bytes: bytes.toString("latin1"),
        key: reuse.key,
        caller: reuse.caller,
        catalog: reuse.catalog,
        status: reuse.status,
        keyGeneration: miss.keyGeneration,
        callerGeneration: miss.callerGeneration,
      };
      // An answer computed across a change is never kept.
      if (!current(answer)) return;
      kept.delete(miss.slot);
      kept.set(miss.slot, answer);
      if (kept.size > deps.maxEntries) {
        kept.delete(kept.keys().next().value!);
        evictions.full++;
      }
    },

    stats: () => ({ hits, misses, size: kept.size, evictions: { ...evictions } }),
  };
}
