// The same service implementation, called in memory through createRouterTransport (no network):
// what the listeners add is transport only.
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { ApiKeyService, VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { createLogger } from "../server/logger.js";
import { createRoutes, createServices } from "../server/routes.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;
let wiring: Awaited<ReturnType<typeof createServices>>;
beforeAll(async () => {
  server = await startTestServer();
  wiring = await createServices(server.app.db, server.config, createLogger("error"), server.app.databaseUrl);
});
afterAll(async () => {
  await wiring?.stop();
  await server?.stop();
});

function inMemoryClient(token: string) {
  const transport = createRouterTransport(createRoutes(wiring.services), {
    transport: { interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))] },
  });
  return createClient(ApiKeyService, transport);
}

describe("ApiKeyService in memory", () => {
  it("creates a key that the real server then verifies, and refuses a member", async () => {
    const created = await inMemoryClient(server.principals.owner).createApiKey({ name: "In memory", access: AccessLevel.CUSTOM, scopes: ["orders:read"] });
    const verified = await server.apiKeys(server.principals.service).verifyApiKey({ key: created.secret, requiredScopes: ["orders:read"] });
    expect(verified.status).toBe(VerificationStatus.VALID);
    await expect(inMemoryClient(server.principals.member).listApiKeys({})).rejects.toThrow(/only workspace owners and admins/);
  });
});
