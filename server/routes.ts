// The one service wiring both listeners (and in-memory tests) use: implementations with their
// collaborators, wrapped by the RPC boundary.
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { ApiKeyService } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { SupportService } from "../contract/gen/apikeys/v1/support_service_pb.js";
import { createApiKeyService } from "./api-key/api-key.service.js";
import type { Config } from "./config.js";
import type { Db } from "./db/database.js";
import { reportDecodeErrorsAsInvalidArgument } from "./decode-errors.js";
import { createHashUpgrader } from "./hash-upgrade.js";
import { createHasher } from "./hashing.js";
import { startLegacyHintCache } from "./legacy/legacy-hint-cache.js";
import { createSupportService } from "./legacy/support.service.js";
import type { Logger } from "./logger.js";
import { createAuthenticator } from "./principal/authenticate.js";
import { withRpcBoundary } from "./rpc-boundary.js";
import { createLastUsedRecorder } from "./verify/last-used.js";
import { createVerifier } from "./verify/verifier.js";

/** Every service with its implementation, and a stop() for the background work they start. */
export async function createServices(db: Db, config: Config, log: Logger) {
  const hasher = createHasher(config.argon2);
  const upgradeHash = createHashUpgrader(db, hasher, log);
  const lastUsed = createLastUsedRecorder(db, config.lastUsedFlushMs, log);
  const legacyHints = await startLegacyHintCache(db, config.legacyRefreshMs, log);
  const verify = createVerifier({ db, hasher, upgradeHash, keyPrefix: config.keyPrefix, lastUsed, legacyHints });
  const edge = { authenticate: createAuthenticator(db, hasher, upgradeHash), log };
  const services = [
    { service: ApiKeyService, impl: withRpcBoundary(ApiKeyService, createApiKeyService({ db, hasher, keyPrefix: config.keyPrefix, verify }), edge) },
    { service: SupportService, impl: withRpcBoundary(SupportService, createSupportService(db), edge) },
  ] as const;
  return {
    services,
    /** Flushes buffered last-used times and stops timers. */
    stop: async () => {
      legacyHints.stop();
      await lastUsed.stop();
    },
  };
}

export type Services = Awaited<ReturnType<typeof createServices>>["services"];

/** Connect routes for the HTTP listener. */
export function createRoutes(services: Services) {
  return (router: ConnectRouter) => {
    for (const { service, impl } of services) router.service(service, impl as ServiceImpl<typeof service>);
    reportDecodeErrorsAsInvalidArgument(router);
  };
}
