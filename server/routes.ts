// The one service wiring both listeners (and in-memory tests) use: implementations with their
// collaborators, wrapped by the RPC boundary.
import { create, type DescMethod } from "@bufbuild/protobuf";
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { ApiKeyService } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { GetSignInOptionsResponseSchema, OidcSignInSchema, SessionService } from "../contract/gen/apikeys/v1/session_service_pb.js";
import { SupportService } from "../contract/gen/apikeys/v1/support_service_pb.js";
import { createApiKeyService } from "./api-key/api-key.service.js";
import type { Config } from "./config.js";
import type { Db } from "./db/database.js";
import { createOutageLog } from "./db/outage-log.js";
import { createHashUpgrader } from "./hash-upgrade.js";
import { createHasher } from "./hashing.js";
import { startLegacyHintCache } from "./legacy/legacy-hint-cache.js";
import { createSupportService } from "./legacy/support.service.js";
import type { Logger } from "./logger.js";
import { countingVerifications, createMetrics } from "./metrics/metrics.js";
import { createReadiness } from "./readiness.js";
import { createAuthenticator, type CachedCaller } from "./principal/authenticate.js";
import { startReplica } from "./replica/replica.js";
import { principalSubject, SCOPES_SUBJECT } from "./replica/change.repository.js";
import { OIDC_START_PATH } from "./oidc/oidc-routes.js";
import { createScopeCatalog } from "./scope/scope-catalog.js";
import { createCookieAuthenticator } from "./session/cookie-auth.js";
import { createSessionService } from "./session/session.service.js";
import { createSessions } from "./session/sessions.js";
import { createAnswerCache } from "./verify/answer-cache.js";
import { createArgon2Pool } from "./verify/argon2-pool.js";
import { createVerificationCache } from "./verify/verification-cache.js";
import { keptAnswerLog, withRpcBoundary } from "./rpc-boundary.js";
import { createLastUsedRecorder } from "./verify/last-used.js";
import { createVerifier, recordUse } from "./verify/verifier.js";

/**
 * Every service with its implementation, and a stop() for the background work they start. This
 * process joins the replicas on the database at `databaseUrl` (the URL `db` was opened on).
 */
export async function createServices(db: Db, config: Config, log: Logger, databaseUrl: string) {
  const hasher = createHasher(config.argon2);
  const upgradeHash = createHashUpgrader(db, { keys: hasher, legacy: createHasher(config.legacyArgon2) }, log);
  // Not serving until the replica listens; the outage log and the replica keep it current.
  const readiness = createReadiness();
  // Prometheus metrics only when their port is configured: otherwise no call pays for them.
  const metrics = config.metricsPort === undefined ? undefined : createMetrics();
  const outage = createOutageLog(db, log, { onReachable: readiness.setDatabaseReachable });
  const lastUsed = createLastUsedRecorder(db, config.lastUsedFlushMs, log, outage, metrics?.lastUsedFlush);
  const legacyHints = await startLegacyHintCache(db, config.legacyRefreshMs, log, outage);
  // What this replica keeps in memory, and the two ways the replica listener keeps it true:
  // `invalidate` for each change's subjects (a changed catalog is read again before the change
  // is confirmed), and `setCachesEnabled(false)` while changes may be missed (fail closed).
  const cacheOptions = { ttlMs: config.cacheTtlMs, maxEntries: config.cacheMaxEntries };
  const keyCache = createVerificationCache(cacheOptions);
  const callerCache = createVerificationCache<CachedCaller>(cacheOptions);
  const catalog = createScopeCatalog(db);
  const invalidate = (subjects: readonly string[]) => {
    let refreshed: Promise<void> | undefined;
    for (const subject of subjects) {
      if (subject === SCOPES_SUBJECT) refreshed ??= catalog.refresh();
      else if (subject.startsWith(principalSubject(""))) callerCache.evict(subject);
      else keyCache.evict(subject);
    }
    return refreshed;
  };
  const setCachesEnabled = (enabled: boolean) => {
    keyCache.setEnabled(enabled);
    callerCache.setEnabled(enabled);
    catalog.setEnabled(enabled);
  };
  // Whole answers to repeated VerifyApiKey calls on the gRPC port, good while the entries and the
  // catalog they were computed from are (see answer-cache.ts): kept true by the two ways above.
  const logKeptAnswer = keptAnswerLog(log, ApiKeyService.method.verifyApiKey);
  const keptAnswerCall = metrics?.rpc.forMethod(ApiKeyService.method.verifyApiKey);
  const answers = createAnswerCache({
    keys: keyCache,
    callers: callerCache,
    catalog,
    maxEntries: config.cacheMaxEntries,
    timed: keptAnswerCall !== undefined,
    onReuse: (answer, startedMs) => {
      recordUse(lastUsed, answer.key);
      logKeptAnswer(answer.caller.id);
      metrics?.verification(answer.status);
      keptAnswerCall?.("grpc", 0, performance.now() - startedMs);
    },
  });
  const pool = createArgon2Pool({
    maxConcurrent: config.argon2MaxConcurrent,
    maxQueued: config.argon2MaxQueued,
    maxQueuedPerKey: config.argon2MaxQueuedPerKey,
    log: log.child({ component: "argon2-pool" }),
  });
  const verifier = createVerifier({
    db,
    hasher,
    upgradeHash,
    keyPrefix: config.keyPrefix,
    lastUsed,
    legacyHints,
    cache: keyCache,
    catalog,
    pool,
    cacheMaxAgeMs: config.cacheMaxAgeMs,
    maxKnown: config.cacheMaxEntries,
  });
  const verify = metrics ? countingVerifications(verifier, metrics) : verifier;
  const authenticator = createAuthenticator({
    db,
    hasher,
    upgradeHash,
    cache: callerCache,
    pool,
    cacheMaxAgeMs: config.cacheMaxAgeMs,
    maxKnown: config.cacheMaxEntries,
  });
  // Every change evicts here before it is confirmed; a delete or change waits for every replica.
  const onHealth = (healthy: boolean) => {
    if (!healthy && readiness.state().replicaListener === "listening") metrics?.cachesTurnedOff();
    setCachesEnabled(healthy);
    readiness.setListening(healthy);
  };
  const onConfirmation = metrics?.confirmation;
  const replica = await startReplica({ databaseUrl, db, log, onChange: invalidate, onHealth, outage, onConfirmation }).catch(async (err: unknown) => {
    outage.stop();
    await legacyHints.stop();
    await lastUsed.stop();
    throw err;
  });
  const { awaitConfirmation } = replica;
  // Browser sessions: the cookie is Secure when this server terminates TLS, or when browsers reach
  // it over https (APIKEYS_PUBLIC_URL, behind a proxy that terminates TLS), as the OpenID Connect
  // attempt cookie set in the same answer is.
  const secure = config.tls !== undefined || config.oidc?.publicUrl.protocol === "https:";
  const sessions = createSessions({ db, hasher, ttlMs: config.sessionTtlMs, secure, awaitConfirmation });
  const cookie = createCookieAuthenticator({ session: authenticator.session, secure });
  const edge = { authenticate: authenticator.bearer, cookie, log, outage, calls: metrics?.rpc };
  // Other ways of signing in (OpenID Connect) add themselves to GetSignInOptions here, and start
  // sessions through `sessions`.
  const oidc = config.oidc && create(OidcSignInSchema, { displayName: config.oidc.displayName, startPath: OIDC_START_PATH });
  const signInOptions = () => create(GetSignInOptionsResponseSchema, { oidc });
  const sessionService = createSessionService({ sessions, authenticateToken: authenticator.token, signInOptions });
  const services = [
    {
      service: ApiKeyService,
      impl: withRpcBoundary(ApiKeyService, createApiKeyService({ db, hasher, keyPrefix: config.keyPrefix, verify, awaitConfirmation }), edge),
      answerCache: (method: DescMethod) => (method === ApiKeyService.method.verifyApiKey ? answers : undefined),
    },
    { service: SupportService, impl: withRpcBoundary(SupportService, createSupportService(db, { awaitConfirmation }), edge) },
    {
      service: SessionService,
      impl: withRpcBoundary(SessionService, sessionService, {
        ...edge,
        noCredential: [SessionService.method.signIn, SessionService.method.getSignInOptions],
      }),
    },
  ] as const;
  metrics?.watch({ caches: { keys: keyCache, callers: callerCache, answers }, argon2: pool, readiness, db, lastUsed });
  return {
    services,
    /** Prometheus metrics, when APIKEYS_METRICS_PORT is set: the registry the metrics port serves. */
    metrics,
    /** The in-memory caches, for the replica listener and for tests. */
    caches: { keys: keyCache, callers: callerCache, answers, invalidate, setEnabled: setCachesEnabled },
    /** The argon2 pool's counters (refusals, suspected guesses, "key under attack" warnings). */
    argon2: { stats: pool.stats },
    /** This process as a replica: its id, and waiting for every replica to confirm a change. */
    replica,
    /** Starting and ending browser sessions (for sign-in routes outside the RPC services). */
    sessions,
    /** Whether this process should get traffic (the database reachable, the listener up). */
    readiness,
    /** Leaves the replica set, flushes buffered last-used times and stops timers. */
    stop: async () => {
      await replica.stop();
      outage.stop();
      await legacyHints.stop();
      await lastUsed.stop();
    },
  };
}

/** What createServices returns. */
export type Wiring = Awaited<ReturnType<typeof createServices>>;
export type Services = Wiring["services"];

/** Connect routes for the HTTP listener. */
export function createRoutes(services: Services) {
  return (router: ConnectRouter) => {
    for (const { service, impl } of services) router.service(service, impl as ServiceImpl<typeof service>);
  };
}
