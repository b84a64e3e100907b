// The one service wiring both listeners use: implementations wrapped by the RPC boundary.
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { ApiKeyService } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { SupportService } from "../contract/gen/apikeys/v1/support_service_pb.js";
import { reportDecodeErrorsAsInvalidArgument } from "./decode-errors.js";
import { createApiKeyService, type ApiKeyServiceDeps } from "./api-key/api-key.service.js";
import type { Db } from "./db/database.js";
import { createSupportService } from "./legacy/support.service.js";
import type { Logger } from "./logger.js";
import type { Authenticate } from "./principal/authenticate.js";
import { withRpcBoundary } from "./rpc-boundary.js";

export interface ServiceDeps extends ApiKeyServiceDeps {
  readonly db: Db;
  readonly authenticate: Authenticate;
  readonly log: Logger;
}

/** Every service with its implementation, ready for either listener. */
export function createServices(deps: ServiceDeps) {
  const edge = { authenticate: deps.authenticate, log: deps.log };
  return [
    { service: ApiKeyService, impl: withRpcBoundary(ApiKeyService, createApiKeyService(deps), edge) },
    { service: SupportService, impl: withRpcBoundary(SupportService, createSupportService(deps.db), edge) },
  ] as const;
}

/** Connect routes for the HTTP listener. */
export function createRoutes(services: ReturnType<typeof createServices>) {
  return (router: ConnectRouter) => {
    for (const { service, impl } of services) router.service(service, impl as ServiceImpl<typeof service>);
    reportDecodeErrorsAsInvalidArgument(router);
  };
}
