// The authorization matrix: every RPC against every kind of caller, and the code each must get.
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { mintToken } from "../contract/key-format.js";
import { createHasher } from "../server/hashing.js";
import { importLegacyKey } from "../server/legacy/legacy-import.js";
import { outcomeOf } from "./support/outcome.js";
import { startTestServer, type Listener, type TestServer } from "./support/test-server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
  // The support calls need a legacy key to inspect and revoke (revoking twice is allowed).
  await importLegacyKey(server.app.db, createHasher(server.config.argon2), {
    workspaceId: server.principals.workspaceId,
    secret: "legacy_live_0123456789abcdefghijklmnop",
  });
});
afterAll(() => server?.stop());

type Who = "owner" | "admin" | "member" | "service" | "support" | "otherWorkspace" | "noToken" | "badToken";
const WHO: Who[] = ["owner", "admin", "member", "service", "support", "otherWorkspace", "noToken", "badToken"];
// Short names keep the tables readable.
const U = Code.Unauthenticated;
const PD = Code.PermissionDenied;
const NF = Code.NotFound;

function tokenOf(who: Who): string | undefined {
  const p = server.principals;
  switch (who) {
    case "otherWorkspace":
      return p.otherOwner;
    case "noToken":
      return undefined;
    case "badToken":
      // Well-formed, right prefix and checksum, but never issued.
      return mintToken("akp");
    default:
      return p[who];
  }
}

/** A fresh key in the first workspace, so that mutating calls do not interfere. */
async function freshKey() {
  return (await server.apiKeys(server.principals.owner).createApiKey({ name: "Target", access: AccessLevel.CUSTOM, scopes: ["orders:read"] }));
}

type Outcome = "ok" | Code;
const rpcs: Record<string, { expect: Record<Who, Outcome>; call: (who: Who, via: Listener) => Promise<unknown> }> = {
  CreateApiKey: {
    expect: { owner: "ok", admin: "ok", member: PD, service: PD, support: PD, otherWorkspace: "ok", noToken: U, badToken: U },
    call: (who, via) => server.apiKeys(tokenOf(who), via).createApiKey({ name: "Matrix", access: AccessLevel.FULL }),
  },
  GetApiKey: {
    expect: { owner: "ok", admin: "ok", member: PD, service: PD, support: PD, otherWorkspace: NF, noToken: U, badToken: U },
    call: async (who, via) => server.apiKeys(tokenOf(who), via).getApiKey({ id: (await freshKey()).apiKey!.id }),
  },
  ListApiKeys: {
    expect: { owner: "ok", admin: "ok", member: PD, service: PD, support: PD, otherWorkspace: "ok", noToken: U, badToken: U },
    call: (who, via) => server.apiKeys(tokenOf(who), via).listApiKeys({}),
  },
  UpdateApiKey: {
    expect: { owner: "ok", admin: "ok", member: PD, service: PD, support: PD, otherWorkspace: NF, noToken: U, badToken: U },
    call: async (who, via) =>
      server.apiKeys(tokenOf(who), via).updateApiKey({ apiKey: { id: (await freshKey()).apiKey!.id, name: "Renamed" }, updateMask: { paths: ["name"] } }),
  },
  DeleteApiKey: {
    expect: { owner: "ok", admin: "ok", member: PD, service: PD, support: PD, otherWorkspace: NF, noToken: U, badToken: U },
    call: async (who, via) => server.apiKeys(tokenOf(who), via).deleteApiKey({ id: (await freshKey()).apiKey!.id }),
  },
  RotateApiKey: {
    expect: { owner: "ok", admin: "ok", member: PD, service: PD, support: PD, otherWorkspace: NF, noToken: U, badToken: U },
    call: async (who, via) => server.apiKeys(tokenOf(who), via).rotateApiKey({ id: (await freshKey()).apiKey!.id }),
  },
  ListScopes: {
    expect: { owner: "ok", admin: "ok", member: "ok", service: "ok", support: "ok", otherWorkspace: "ok", noToken: U, badToken: U },
    call: (who, via) => server.apiKeys(tokenOf(who), via).listScopes({}),
  },
  VerifyApiKey: {
    expect: { owner: "ok", admin: "ok", member: PD, service: "ok", support: PD, otherWorkspace: "ok", noToken: U, badToken: U },
    call: async (who, via) => server.apiKeys(tokenOf(who), via).verifyApiKey({ key: (await freshKey()).secret }),
  },
  ListAuditEvents: {
    expect: { owner: "ok", admin: "ok", member: PD, service: PD, support: PD, otherWorkspace: "ok", noToken: U, badToken: U },
    call: (who, via) => server.apiKeys(tokenOf(who), via).listAuditEvents({}),
  },
  GetLegacyKey: {
    expect: { owner: PD, admin: PD, member: PD, service: PD, support: "ok", otherWorkspace: PD, noToken: U, badToken: U },
    call: (who, via) => server.support(tokenOf(who), via).getLegacyKey({ workspaceId: server.principals.workspaceId }),
  },
  RevokeLegacyKey: {
    expect: { owner: PD, admin: PD, member: PD, service: PD, support: "ok", otherWorkspace: PD, noToken: U, badToken: U },
    call: (who, via) => server.support(tokenOf(who), via).revokeLegacyKey({ workspaceId: server.principals.workspaceId }),
  },
};

describe.each(["http", "grpc"] as const)("authorization matrix on the %s port", (via) => {
  for (const [rpc, { expect: expected, call }] of Object.entries(rpcs)) {
    for (const who of WHO) {
      const want = expected[who];
      it(`${rpc} as ${who} → ${want === "ok" ? "OK" : Code[want]}`, async () => {
        expect(await outcomeOf(call(who, via))).toBe(want);
      });
    }
  }
});

describe("what callers learn about keys they may not see", () => {
  it("another workspace's owner verifying our key gets NOT_FOUND, exactly like an unknown key", async () => {
    const { secret } = await freshKey();
    const other = await server.apiKeys(server.principals.otherOwner).verifyApiKey({ key: secret });
    const unknown = await server.apiKeys(server.principals.otherOwner).verifyApiKey({ key: mintToken("ak") });
    expect(other).toEqual(unknown);
    expect(other.status).toBe(VerificationStatus.NOT_FOUND);
  });

  it("another workspace's owner cannot list our keys or events", async () => {
    const { apiKey } = await freshKey();
    const keys = await server.apiKeys(server.principals.otherOwner).listApiKeys({ pageSize: 1000 });
    expect(keys.apiKeys.map((k) => k.id)).not.toContain(apiKey!.id);
    const events = await server.apiKeys(server.principals.otherOwner).listAuditEvents({ apiKeyId: apiKey!.id });
    expect(events.events).toEqual([]);
  });

  it("a service limited to another workspace gets NOT_FOUND for our key", async () => {
    const { addPrincipal } = await import("../server/principal/principal.admin.js");
    const limited = await addPrincipal(server.app.db, createHasher(server.config.argon2), {
      kind: "service",
      name: "globex-gateway",
      workspaceId: server.principals.otherWorkspaceId,
    });
    const { secret } = await freshKey();
    expect((await server.apiKeys(limited.token).verifyApiKey({ key: secret })).status).toBe(VerificationStatus.NOT_FOUND);
    expect((await server.apiKeys(server.principals.service).verifyApiKey({ key: secret })).valid).toBe(true);
  });

  it("a deleted key and a key without the scope are refused by verification", async () => {
    const owner = server.apiKeys(server.principals.owner);
    const deleted = await freshKey();
    await owner.deleteApiKey({ id: deleted.apiKey!.id });
    const verifier = server.apiKeys(server.principals.service);
    expect((await verifier.verifyApiKey({ key: deleted.secret })).status).toBe(VerificationStatus.REVOKED);
    const scoped = await freshKey();
    expect((await verifier.verifyApiKey({ key: scoped.secret, requiredScopes: ["orders:write"] })).status).toBe(VerificationStatus.INSUFFICIENT_SCOPE);
  });

  it("an API key is not a credential for the management API", async () => {
    const { secret } = await freshKey();
    expect(await outcomeOf(server.apiKeys(secret).listApiKeys({}))).toBe(Code.Unauthenticated);
  });

  it("a revoked principal token is refused", async () => {
    const { addPrincipal, revokeTokens } = await import("../server/principal/principal.admin.js");
    const admin = await addPrincipal(server.app.db, createHasher(server.config.argon2), {
      kind: "member",
      role: "admin",
      name: "Leaving Admin",
      workspaceId: server.principals.workspaceId,
    });
    expect(await outcomeOf(server.apiKeys(admin.token).listApiKeys({}))).toBe("ok");
    // What `apikeys tokens revoke` runs; every replica evicts the cached token once it commits.
    const { change } = await revokeTokens(server.app.db, admin.principalId);
    await server.app.replica.awaitConfirmation(change!);
    expect(await outcomeOf(server.apiKeys(admin.token).listApiKeys({}))).toBe(Code.Unauthenticated);
  });
});
