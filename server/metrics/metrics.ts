// Everything the server tells Prometheus, on a Registry of its own (never prom-client's global
// one). Most of it is read when Prometheus scrapes, from counters the parts keep anyway (the
// caches, the argon2 pool, readiness, the pg pool): nothing is paid per call for those. Per call,
// only the calls' own series (rpc-metrics.ts) and the verification outcomes move, as plain numbers.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Db } from "../db/database.js";
import { poolUsage } from "../db/database.js";
import type { Readiness } from "../readiness.js";
import type { Argon2PoolStats } from "../verify/argon2-pool.js";
import type { VerificationCacheStats } from "../verify/verification-cache.js";
import type { VerifyAnswerCache } from "../verify/answer-cache.js";
import type { LastUsedFlush } from "../verify/last-used.js";
import type { Verification, Verifier, VerifyStatus } from "../verify/verifier.js";
import { createRpcMetrics, type RpcMetrics } from "./rpc-metrics.js";

/** What a replica's wait for every replica's confirmation of a change came to (see Replica.awaitConfirmation). */
export type ConfirmationOutcome = "confirmed" | "missed" | "unchecked";

/** The parts whose counters are read at scrape time. */
export interface MetricSources {
  readonly caches: {
    readonly keys: { stats(): VerificationCacheStats };
    readonly callers: { stats(): VerificationCacheStats };
    readonly answers: Pick<VerifyAnswerCache, "stats">;
  };
  readonly argon2: { stats(): Argon2PoolStats };
  readonly readiness: Pick<Readiness, "state">;
  readonly db: Db;
  readonly lastUsed: { pending(): number };
}

export interface Metrics {
  readonly registry: Registry;
  /** Calls by method, protocol and code, with their latency. */
  readonly rpc: RpcMetrics;
  /** Counts one VerifyApiKey answer by what it says. */
  verification(status: VerifyStatus): void;
  /** The replica listener went down: every cache was turned off. */
  cachesTurnedOff(): void;
  /** One wait for the replicas to confirm a change. */
  confirmation(outcome: ConfirmationOutcome, ms: number): void;
  /** One flush of last-used times. */
  lastUsedFlush(flush: LastUsedFlush): void;
  /** Reads `sources` at every scrape from now on. */
  watch(sources: MetricSources): void;
}

const STATUSES: readonly VerifyStatus[] = ["valid", "malformed", "not_found", "revoked", "expired", "insufficient_scope"];

/** A Registry with the server's metrics and Node's process metrics (process_*, nodejs_*). */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const rpc = createRpcMetrics(registry);

  // Counted per answer: a plain object with one number per status, read at scrape time.
  const outcomes = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<VerifyStatus, number>;
  new Counter({
    name: "apikeys_verifications_total",
    help: "VerifyApiKey answers by status (valid, malformed, not_found, revoked, expired, insufficient_scope), on both ports, kept answers included",
    labelNames: ["status"],
    registers,
    collect() {
      this.reset();
      for (const status of STATUSES) this.inc({ status }, outcomes[status]);
    },
  });

  const cachesOff = new Counter({
    name: "apikeys_replica_caches_off_total",
    help: "Times the replica listener went down and every in-memory cache was turned off (fail closed) until it listened again",
    registers,
  });
  const confirmations = new Histogram({
    name: "apikeys_replica_confirmation_duration_seconds",
    help: "Waits for every live replica to confirm a change, by outcome: confirmed; missed (some replicas did not confirm in time); unchecked (the check itself failed)",
    labelNames: ["outcome"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const flushes = new Histogram({
    name: "apikeys_last_used_flush_duration_seconds",
    help: "Writes of buffered last-used times (one statement each), by result (ok, failed)",
    labelNames: ["result"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const flushedKeys = new Counter({
    name: "apikeys_last_used_flushed_keys_total",
    help: "Keys whose last-used time a flush wrote",
    registers,
  });

  for (const outcome of ["confirmed", "missed", "unchecked"]) confirmations.zero({ outcome });
  for (const result of ["ok", "failed"]) flushes.zero({ result });

  return {
    registry,
    rpc,
    verification: (status) => void outcomes[status]++,
    cachesTurnedOff: () => cachesOff.inc(),
    confirmation: (outcome, ms) => confirmations.observe({ outcome }, ms / 1000),
    lastUsedFlush: ({ keys, ok, ms }) => {
      flushes.observe({ result: ok ? "ok" : "failed" }, ms / 1000);
      if (ok) flushedKeys.inc(keys);
    },
    watch: (sources) => watchSources(registry, sources),
  };
}

/** `verify`, counting what each of its answers says. */
export function countingVerifications(verify: Verifier, metrics: Pick<Metrics, "verification">): Verifier {
  const counted = (v: Verification) => {
    metrics.verification(v.status);
    return v;
  };
  return (request) => {
    const v = verify(request);
    return v instanceof Promise ? v.then(counted) : counted(v);
  };
}

/** The metrics read from `sources` at scrape time. */
function watchSources(registry: Registry, sources: MetricSources): void {
  const registers = [registry];
  const caches = () => {
    const { keys, callers, answers } = sources.caches;
    return [
      { cache: "keys", ...keys.stats() },
      { cache: "callers", ...callers.stats() },
      { cache: "answers", ...answers.stats(), enabled: keys.stats().enabled && callers.stats().enabled },
    ];
  };
  const cacheHelp = "keys (verified API keys), callers (verified principal tokens), answers (whole VerifyApiKey answers kept on the gRPC port)";
  /** A counter whose value is read from `read` at scrape time. */
  const readCounter = (name: string, help: string, labelNames: string[], read: () => Array<[Record<string, string>, number]>) =>
    new Counter({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.inc(labels, value);
      },
    });
  /** A gauge whose value is read from `read` at scrape time. */
  const readGauge = (name: string, help: string, labelNames: string[], read: () => Array<[Record<string, string>, number]>) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.set(labels, value);
      },
    });
  const one = (value: number): Array<[Record<string, string>, number]> => [[{}, value]];

  readCounter("apikeys_cache_hits_total", `Lookups answered from memory, by cache: ${cacheHelp}`, ["cache"], () => caches().map((c) => [{ cache: c.cache }, c.hits]));
  readCounter("apikeys_cache_misses_total", `Lookups not answered from memory, by cache: ${cacheHelp}`, ["cache"], () => caches().map((c) => [{ cache: c.cache }, c.misses]));
  readCounter(
    "apikeys_cache_evictions_total",
    `Entries dropped, by cache and reason: changed (a change to its key or principal), expired, full (the least recently used, for room), cleared (the cache turned off), stale (a kept answer out of date)`,
    ["cache", "reason"],
    () => caches().flatMap((c) => Object.entries(c.evictions).map(([reason, n]): [Record<string, string>, number] => [{ cache: c.cache, reason }, n])),
  );
  readGauge("apikeys_cache_entries", `Entries held, by cache: ${cacheHelp}`, ["cache"], () => caches().map((c) => [{ cache: c.cache }, c.size]));
  readGauge("apikeys_cache_enabled", "1 while a cache serves from memory, 0 while it is off (the replica listener is down)", ["cache"], () =>
    caches().map((c) => [{ cache: c.cache }, c.enabled ? 1 : 0]),
  );

  const pool = () => sources.argon2.stats();
  readGauge("apikeys_argon2_running_checks", "argon2 checks running now", [], () => one(pool().running));
  readGauge("apikeys_argon2_queued_checks", "argon2 checks waiting now: behind another check of the same key id, or for a slot", [], () => one(pool().queued));
  readCounter("apikeys_argon2_checks_total", "argon2 checks started", [], () => one(pool().started));
  readCounter("apikeys_argon2_refused_checks_total", "argon2 checks refused with RESOURCE_EXHAUSTED: the key id's line or the whole pool was full", [], () => one(pool().refused));
  readCounter("apikeys_argon2_guesses_total", "argon2 checks that found several others for their key id already waiting: guesses, almost surely", [], () => one(pool().contended));

  const state = () => sources.readiness.state();
  readGauge("apikeys_ready", "1 while this process should get traffic (as /readyz and the gRPC health service say), else 0", [], () => one(state().status === "serving" ? 1 : 0));
  readGauge("apikeys_database_reachable", "1 while the database answers, 0 from the first call that found it unreachable until a probe gets through", [], () =>
    one(state().database === "reachable" ? 1 : 0),
  );
  readGauge("apikeys_replica_listener_up", "1 while the replica listener hears of every change, 0 while it is down (caches off)", [], () =>
    one(state().replicaListener === "listening" ? 1 : 0),
  );

  const db = () => poolUsage(sources.db) ?? { total: 0, idle: 0, waiting: 0, max: 0 };
  readGauge("apikeys_db_pool_connections", "Postgres pool connections open, by state (idle, in_use)", ["state"], () => {
    const u = db();
    return [
      [{ state: "idle" }, u.idle],
      [{ state: "in_use" }, u.total - u.idle],
    ];
  });
  readGauge("apikeys_db_pool_max_connections", "Most connections the Postgres pool opens", [], () => one(db().max));
  readGauge("apikeys_db_pool_waiting_requests", "Queries and transactions waiting for a Postgres pool connection", [], () => one(db().waiting));

  readGauge("apikeys_last_used_pending_keys", "Keys whose use waits for the next last-used flush", [], () => one(sources.lastUsed.pending()));
}
