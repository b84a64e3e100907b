// Access levels and the catalog: FULL passes scopes added later, CUSTOM does not.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

describe("scope catalog", () => {
  it("is seeded from config/scopes.json", async () => {
    const { scopes } = await server.apiKeys(server.principals.member).listScopes({});
    expect(scopes.map((s) => s.name)).toContain("orders:read");
    expect(scopes.find((s) => s.name === "orders:read")?.description).toBe("Read orders");
  });

  it("when a scope is added after a FULL and a CUSTOM key were created, then only the FULL key passes it", async () => {
    const owner = server.apiKeys(server.principals.owner);
    const full = await owner.createApiKey({ name: "Full before", access: AccessLevel.FULL });
    const custom = await owner.createApiKey({ name: "Custom before", access: AccessLevel.CUSTOM, scopes: ["orders:read"] });
    const verify = (key: string, scope: string) => server.apiKeys(server.principals.service).verifyApiKey({ key, requiredScopes: [scope] });

    // Not in the catalog yet: nobody passes it, not even a FULL key.
    expect((await verify(full.secret, "invoices:read")).status).toBe(VerificationStatus.INSUFFICIENT_SCOPE);

    // Added through the CLI, as an operator would (`operate` returns once this server has it).
    await server.operate("scopes", "add", "invoices:read", "--description", "Read invoices");

    const fullAfter = await verify(full.secret, "invoices:read");
    expect(fullAfter.valid).toBe(true);
    expect(fullAfter.scopes).toContain("invoices:read");
    const customAfter = await verify(custom.secret, "invoices:read");
    expect(customAfter).toMatchObject({ valid: false, status: VerificationStatus.INSUFFICIENT_SCOPE, missingScopes: ["invoices:read"] });
    expect((await owner.getApiKey({ id: full.apiKey!.id })).apiKey?.effectiveScopes).toContain("invoices:read");
    expect((await owner.getApiKey({ id: custom.apiKey!.id })).apiKey?.effectiveScopes).toEqual(["orders:read"]);
  });

  it("a CUSTOM key passes exactly its scopes, in any combination", async () => {
    const owner = server.apiKeys(server.principals.owner);
    const { secret } = await owner.createApiKey({ name: "Two scopes", access: AccessLevel.CUSTOM, scopes: ["orders:read", "orders:write"] });
    const verify = (requiredScopes: string[]) => server.apiKeys(server.principals.service).verifyApiKey({ key: secret, requiredScopes });
    expect((await verify([])).valid).toBe(true);
    expect((await verify(["orders:read"])).valid).toBe(true);
    expect((await verify(["orders:write", "orders:read"])).valid).toBe(true);
    expect((await verify(["orders:read", "customers:read"])).missingScopes).toEqual(["customers:read"]);
  });
});
