// A key's id is public (it is in its hint), so anyone can flood the argon2 pool with wrong secrets
// for it (issue 15: 17 of 89 of the holder's verifications answered RESOURCE_EXHAUSTED). The
// holder's secret must verify every time its cache entry is gone, while 32 guesses are in flight:
// after a change, after the TTL, and for a secret this replica has never checked; other keys keep
// verifying; the attack is logged once per key per minute and counted. argon2 runs at OWASP's
// password cost on one slot, so that each check holds the key's line for tens of milliseconds.
// A principal token's id is public the same way, and its checks share the pool: a service must
// keep verifying keys while its token's id is flooded.
import { setTimeout as sleep } from "node:timers/promises";
import { fromBinary, toBinary, create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { VerificationStatus, VerifyApiKeyRequestSchema, VerifyApiKeyResponseSchema } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { mintToken, parseToken, randomBase62 } from "../contract/key-format.js";
import { OWASP_ARGON2, PRINCIPAL_TOKEN_PREFIX } from "../server/config.js";
import { createHasher } from "../server/hashing.js";
import { importLegacyKey } from "../server/legacy/legacy-import.js";
import { addPrincipal } from "../server/principal/principal.admin.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const servers: TestServer[] = [];
afterAll(async () => {
  for (const server of servers) await server.stop();
});

/** A server whose argon2 checks hold one slot for tens of milliseconds each. */
async function slowArgon2Server(env: Record<string, string>): Promise<TestServer> {
  const server = await startTestServer({
    APIKEYS_ARGON2_MAX_CONCURRENT: "1",
    APIKEYS_ARGON2_MEMORY_KIB: "19456",
    APIKEYS_ARGON2_ITERATIONS: "2",
    ...env,
  });
  servers.push(server);
  return server;
}

/**
 * VerifyApiKey through a plain grpc-js client, as the service holding `token` (the deployment's
 * service unless told): the status name, or the gRPC code's name.
 */
function grpcVerifier(server: TestServer, token = server.principals.service) {
  const client = new grpc.Client(server.grpcAddress, grpc.credentials.createInsecure());
  const verify = (key: string, as = token) => {
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${as}`);
    return new Promise<string>((resolve) =>
      client.makeUnaryRequest(
        "/apikeys.v1.ApiKeyService/VerifyApiKey",
        (m: { key: string }) => Buffer.from(toBinary(VerifyApiKeyRequestSchema, create(VerifyApiKeyRequestSchema, m))),
        (b: Buffer) => fromBinary(VerifyApiKeyResponseSchema, b),
        { key },
        metadata,
        (err, res) => resolve(err ? grpc.status[err.code] : VerificationStatus[res!.status]),
      ),
    );
  };
  return { verify, close: () => client.close() };
}

/** What a guess presents: a key, or a key with a caller token. */
type Guess = string | { readonly key: string; readonly token: string };

/** Wrong secrets from `guess`, `inFlight` at a time, until stopped or `max` calls; resolves with each outcome's count. */
function flood(server: TestServer, guess: () => Guess, inFlight = 32, max = 20_000) {
  const { verify, close } = grpcVerifier(server);
  const counts: Record<string, number> = {};
  let sent = 0;
  let stopped = false;
  const worker = async () => {
    while (!stopped && sent < max) {
      sent++;
      const g = guess();
      const outcome = await (typeof g === "string" ? verify(g) : verify(g.key, g.token));
      counts[outcome] = (counts[outcome] ?? 0) + 1;
    }
  };
  const done = Promise.all(Array.from({ length: inFlight }, worker));
  return {
    counts,
    stop: async () => {
      stopped = true;
      await done;
      close();
      return counts;
    },
  };
}

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * A server with a slow argon2 pool, a FULL key its holder has verified once, and a flood of wrong
 * secrets for that key's id, running until `ready` says the guesses have filled the pool.
 */
async function floodedKey(env: Record<string, string>, ready: (stats: ReturnType<TestServer["app"]["argon2"]["stats"]>) => boolean, what: string) {
  const server = await slowArgon2Server(env);
  const owner = server.apiKeys(server.principals.owner);
  const holder = grpcVerifier(server);
  const target = await owner.createApiKey({ name: "Flooded", access: AccessLevel.FULL });
  const targetId = parseToken(target.secret, server.config.keyPrefix)!.id;
  expect(await holder.verify(target.secret)).toBe("VALID");
  const guesses = flood(server, () => mintToken(server.config.keyPrefix, targetId));
  await until(() => ready(server.app.argon2.stats()), what);
  return { server, owner, holder, target, targetId, guesses };
}

const attackLines = (server: TestServer) =>
  server.logs.map((line) => JSON.parse(line) as { msg: string; time: string; keyId?: string }).filter((line) => line.msg.startsWith("key under attack"));

/** The warnings name only `keyId`: at least one, and (on a slow run) never two within a minute. */
function expectAttackWarnings(server: TestServer, keyId: string | RegExp): void {
  const lines = attackLines(server);
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) expect(line.keyId).toMatch(keyId);
  for (let i = 1; i < lines.length; i++) expect(Date.parse(lines[i]!.time) - Date.parse(lines[i - 1]!.time)).toBeGreaterThanOrEqual(60_000);
  expect(server.app.argon2.stats().warnings).toBe(lines.length);
}

describe("a flood of wrong secrets for one key id", () => {
  it("when the key's line is full of guesses, its holder's secret still verifies after every change and every TTL expiry, and other keys are unaffected", async () => {
    const { server, owner, holder, target, targetId, guesses } = await floodedKey(
      { APIKEYS_ARGON2_MAX_QUEUED_PER_KEY: "4", APIKEYS_CACHE_TTL_MS: "1000" },
      (stats) => stats.refused > 50,
      "the key's line to be full",
    );
    const outcomes: string[] = [];
    for (let round = 0; round < 5; round++) {
      // A change evicts the key everywhere: its secret needs a new argon2 check.
      await owner.updateApiKey({ apiKey: { id: target.apiKey!.id, name: `Flooded ${round}` }, updateMask: { paths: ["name"] } });
      outcomes.push(await holder.verify(target.secret));
      // The cache entry expires (TTL 1 s); nothing changed, so the remembered check stands.
      await sleep(1100);
      outcomes.push(await holder.verify(target.secret));
      // Another key, never checked before, has a line of its own.
      const other = await owner.createApiKey({ name: `Other ${round}`, access: AccessLevel.FULL });
      outcomes.push(`other ${await holder.verify(other.secret)}`);
    }
    // Remembering the secret never outlives the key.
    await owner.deleteApiKey({ id: target.apiKey!.id });
    outcomes.push(await holder.verify(target.secret));
    const counts = await guesses.stop();
    holder.close();

    expect(outcomes).toEqual([...Array.from({ length: 5 }, () => ["VALID", "VALID", "other VALID"]).flat(), "REVOKED"]);
    // The guesses were checked (NOT_FOUND) or refused, never taken for the key.
    expect(Object.keys(counts).sort()).toEqual(["NOT_FOUND", "RESOURCE_EXHAUSTED"]);
    expectAttackWarnings(server, new RegExp(`^${targetId}$`));
    expect(attackLines(server)[0]).toMatchObject({ level: "warn" });
    expect(server.logs.join("\n")).not.toContain(target.secret.slice(-20));
  }, 180_000);

  it("a secret this replica has never checked waits its turn behind the guesses instead of being refused", async () => {
    const { server, owner, holder, target, targetId, guesses } = await floodedKey({}, (stats) => stats.contended > 50, "guesses to queue up");
    const outcomes: string[] = [];
    let secret = target.secret;
    for (let round = 0; round < 2; round++) {
      const rotated = await owner.rotateApiKey({ id: target.apiKey!.id, gracePeriod: durationFromMs(60_000) });
      // The new secret was never checked here; the old one was, and keeps its grace.
      outcomes.push(await holder.verify(rotated.secret), await holder.verify(secret));
      secret = rotated.secret;
    }
    const counts = await guesses.stop();
    holder.close();

    expect(outcomes).toEqual(Array.from({ length: 4 }, () => "VALID"));
    expect(counts).toEqual({ NOT_FOUND: expect.any(Number) });
    expectAttackWarnings(server, new RegExp(`^${targetId}$`));
  }, 180_000);

  it("for a legacy key's hint, its holder's secret still verifies after every TTL expiry, and a revoke still refuses it at once", async () => {
    const server = await slowArgon2Server({ APIKEYS_ARGON2_MAX_QUEUED_PER_KEY: "4", APIKEYS_CACHE_TTL_MS: "1000" });
    const holder = grpcVerifier(server);
    const secret = "sk_live_51HxQeLegacyAccountKey0123456789";
    await importLegacyKey(server.app.db, createHasher(OWASP_ARGON2), { workspaceId: server.principals.workspaceId, secret });
    await expect.poll(() => holder.verify(secret), { timeout: 30_000 }).toBe("VALID");

    // Same hint (first and last 4 characters), same length, wrong middle.
    const guesses = flood(server, () => `${secret.slice(0, 4)}${randomBase62(secret.length - 8)}${secret.slice(-4)}`);
    await until(() => server.app.argon2.stats().refused > 50, "the key's line to be full");
    const outcomes: string[] = [];
    for (let round = 0; round < 3; round++) {
      await sleep(1100);
      outcomes.push(await holder.verify(secret));
    }
    await server.support(server.principals.support).revokeLegacyKey({ workspaceId: server.principals.workspaceId });
    outcomes.push(await holder.verify(secret));
    const counts = await guesses.stop();
    holder.close();

    expect(outcomes).toEqual(["VALID", "VALID", "VALID", "REVOKED"]);
    expect(counts.RESOURCE_EXHAUSTED).toBeGreaterThan(0);
    expectAttackWarnings(server, /^legacy:/);
  }, 180_000);
});

describe("a flood of wrong tokens for one principal token's id", () => {
  it("a service's own token keeps verifying keys every time its cache entry is gone, and revoking it still refuses it at once", async () => {
    // Entries expire after 1 s unused, and a remembered check after 2.5 s: the service's token is
    // decided both from memory and by a new argon2 check while its line is full of guesses.
    const server = await slowArgon2Server({ APIKEYS_ARGON2_MAX_QUEUED_PER_KEY: "4", APIKEYS_CACHE_TTL_MS: "1000", APIKEYS_CACHE_MAX_AGE_MS: "2500" });
    const gateway = await addPrincipal(server.app.db, createHasher(server.config.argon2), { kind: "service", name: "edge-gateway" });
    const gatewayTokenId = parseToken(gateway.token, PRINCIPAL_TOKEN_PREFIX)!.id;
    const key = await server.apiKeys(server.principals.owner).createApiKey({ name: "Verified by the gateway", access: AccessLevel.FULL });
    const service = grpcVerifier(server, gateway.token);
    expect(await service.verify(key.secret)).toBe("VALID");

    const guesses = flood(server, () => ({ key: key.secret, token: mintToken(PRINCIPAL_TOKEN_PREFIX, gatewayTokenId) }));
    await until(() => server.app.argon2.stats().refused > 50, "the token's line to be full");
    const outcomes: string[] = [];
    for (let round = 0; round < 6; round++) {
      // The caller's cache entry (and the key's) expires (TTL 1 s).
      await sleep(1100);
      outcomes.push(await service.verify(key.secret));
    }
    await server.operate("tokens", "revoke", "--principal", gateway.principalId);
    outcomes.push(await service.verify(key.secret));
    const counts = await guesses.stop();
    service.close();

    expect(outcomes).toEqual([...Array.from({ length: 6 }, () => "VALID"), "UNAUTHENTICATED"]);
    // The guesses were checked (UNAUTHENTICATED) or refused, never taken for the token.
    expect(Object.keys(counts).sort()).toEqual(["RESOURCE_EXHAUSTED", "UNAUTHENTICATED"]);
    expectAttackWarnings(server, new RegExp(`^principal:${gateway.principalId}$`));
    expect(server.logs.join("\n")).not.toContain(gateway.token.slice(-20));
  }, 180_000);
});
