// The hidden legacy account key: imported by the CLI from stdin, full access, never listed,
// visible to support as metadata only, and revocable by support.
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { AuditAction } from "../contract/gen/apikeys/v1/audit_event_pb.js";
import { VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { textOf } from "./support/text.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

const LEGACY = "sk_live_51HxQeLegacyAccountKey0123456789";

/** Runs the CLI with `input` on stdin; resolves with its exit code and output. */
function cli(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("bin/apikeys", args, {
      // The default argon2 costs: a legacy key's is OWASP's password cost.
      env: { ...process.env, DATABASE_URL: server.app.databaseUrl },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe("legacy account key", () => {
  it("is imported from stdin and verifies with full access", async () => {
    const imported = await cli(["legacy", "import", "--workspace", server.principals.workspaceId], `${LEGACY}\n`);
    expect(imported.stderr).toContain("imported the legacy account key");
    expect(imported.code).toBe(0);
    expect(imported.stdout + imported.stderr).not.toContain(LEGACY);
    // Its entropy is unknown, so it is hashed at the password cost, not the keys' lower one.
    const stored = await server.app.db.selectFrom("legacy_keys").select("hash").where("workspace_id", "=", server.principals.workspaceId).executeTakeFirstOrThrow();
    expect(stored.hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const verifier = server.apiKeys(server.principals.service);
    await expect
      .poll(async () => (await verifier.verifyApiKey({ key: LEGACY, requiredScopes: ["orders:write"] })).status, { timeout: 5000 })
      .toBe(VerificationStatus.VALID);
    const res = await verifier.verifyApiKey({ key: LEGACY });
    expect(res).toMatchObject({ valid: true, legacy: true, access: AccessLevel.FULL, workspaceId: server.principals.workspaceId });
    // A near miss with the same hint is not the key.
    expect((await verifier.verifyApiKey({ key: LEGACY.replace("0123", "0124") })).valid).toBe(false);
  });

  it("refuses a second active legacy key for the workspace", async () => {
    const again = await cli(["legacy", "import", "--workspace", server.principals.workspaceId], "sk_live_another_legacy_key_abcdefghij");
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("already has an active legacy key");
  });

  it("refuses a secret too short to be a key", async () => {
    const short = await cli(["legacy", "import", "--workspace", server.principals.workspaceId], "short");
    expect(short.code).toBe(2);
    expect(short.stderr).toContain("must be 24 to 512 characters");
  });

  it("never appears in key lists", async () => {
    const legacyId = (await server.support(server.principals.support).getLegacyKey({ workspaceId: server.principals.workspaceId })).legacyKey!.id;
    const { apiKeys } = await server.apiKeys(server.principals.owner).listApiKeys({ pageSize: 1000 });
    expect(legacyId).toMatch(/^lk_/);
    expect(apiKeys.map((k) => k.id)).not.toContain(legacyId);
    expect(apiKeys).toHaveLength(0); // this workspace has no API keys, only the legacy key
  });

  it("support sees its metadata, including last use, and never its secret", async () => {
    const support = server.support(server.principals.support);
    await expect.poll(async () => (await support.getLegacyKey({ workspaceId: server.principals.workspaceId })).legacyKey?.lastUsedTime, { timeout: 5000 }).toBeDefined();
    const { legacyKey } = await support.getLegacyKey({ workspaceId: server.principals.workspaceId });
    expect(legacyKey).toMatchObject({ workspaceId: server.principals.workspaceId, hint: "sk_l…6789" });
    expect(legacyKey?.createTime).toBeDefined();
    expect(legacyKey?.revokeTime).toBeUndefined();
    expect(textOf(legacyKey)).not.toContain(LEGACY.slice(4, -4));
  });

  it("support revokes it: it stops verifying at once and the workspace's audit log shows it", async () => {
    // On the gRPC port the second call is sent the answer kept from the first: the revoke retires it.
    const overGrpc = () => server.apiKeys(server.principals.service, "grpc").verifyApiKey({ key: LEGACY });
    await overGrpc();
    const kept = server.app.caches.answers.stats().hits;
    expect((await overGrpc()).valid).toBe(true);
    expect(server.app.caches.answers.stats().hits - kept).toBe(1);
    const support = server.support(server.principals.support);
    const { legacyKey } = await support.revokeLegacyKey({ workspaceId: server.principals.workspaceId });
    expect(legacyKey?.revokeTime).toBeDefined();
    expect((await server.apiKeys(server.principals.service).verifyApiKey({ key: LEGACY })).status).toBe(VerificationStatus.REVOKED);
    expect((await overGrpc()).status).toBe(VerificationStatus.REVOKED);
    const { events } = await server.apiKeys(server.principals.owner).listAuditEvents({ apiKeyId: legacyKey!.id });
    expect(events.map((e) => [e.action, e.actorName])).toEqual([
      [AuditAction.LEGACY_REVOKE, "Sam Support"],
      [AuditAction.LEGACY_IMPORT, "apikeys legacy import"],
    ]);
  });

  it("a workspace without one answers NotFound to support", async () => {
    const err = await server.support(server.principals.support).getLegacyKey({ workspaceId: server.principals.otherWorkspaceId }).catch((e: Error) => e);
    expect((err as Error).message).toContain("has no legacy account key");
  });
});
