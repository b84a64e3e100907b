// Every ApiKeyService RPC through a real server on random ports, as an owner would use it.
import { Code } from "@connectrpc/connect";
import { durationFromMs, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { AuditAction } from "../contract/gen/apikeys/v1/audit_event_pb.js";
import { VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { recordChange, SCOPES_SUBJECT } from "../server/replica/change.repository.js";
import { addScopes } from "../server/scope/scope.repository.js";
import { confirmedChange, lockTables } from "./support/database.js";
import { outcomeOf } from "./support/outcome.js";
import { textOf } from "./support/text.js";
import { startTestServer, whileListening, type TestServer } from "./support/test-server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

const owner = () => server.apiKeys(server.principals.owner);
const service = () => server.apiKeys(server.principals.service);
/** The highest change this server's replica has confirmed. */
const confirmed = () => confirmedChange(server.app.db, server.app.replica.id);


describe("CreateApiKey", () => {
  it("returns the secret once and metadata without it", async () => {
    const res = await owner().createApiKey({ name: "  Snowflake prod export ", access: AccessLevel.CUSTOM, scopes: ["reports:export", "orders:read", "orders:read"] });
    expect(res.secret).toMatch(/^ak_[0-9A-Za-z]{50}$/);
    expect(res.apiKey?.name).toBe("Snowflake prod export");
    expect(res.apiKey?.scopes).toEqual(["orders:read", "reports:export"]);
    expect(res.apiKey?.effectiveScopes).toEqual(["orders:read", "reports:export"]);
    expect(res.apiKey?.id).toBe(res.secret.slice(3, 15));
    expect(res.apiKey?.hint).toBe(`ak_${res.apiKey?.id}…${res.secret.slice(-4)}`);
    expect(res.apiKey?.workspaceId).toBe(server.principals.workspaceId);
    expect(textOf(await owner().getApiKey({ id: res.apiKey!.id }))).not.toContain(res.secret.slice(15, 47));
  });

  it("gives a FULL key the whole catalog as effective scopes", async () => {
    const res = await owner().createApiKey({ name: "Zapier prod sync", access: AccessLevel.FULL });
    const catalog = (await owner().listScopes({})).scopes.map((s) => s.name);
    expect(res.apiKey?.scopes).toEqual([]);
    expect(res.apiKey?.effectiveScopes).toEqual(catalog);
  });

  it("accepts well-formed client-minted key material and returns no secret", async () => {
    const { mintToken } = await import("../contract/key-format.js");
    const material = mintToken("ak");
    const res = await owner().createApiKey({ name: "Terraform minted", access: AccessLevel.FULL, keyMaterial: material });
    expect(res.secret).toBe("");
    expect(res.apiKey?.id).toBe(material.slice(3, 15));
    expect((await service().verifyApiKey({ key: material })).valid).toBe(true);
    // Its id is now taken.
    expect(await outcomeOf(owner().createApiKey({ name: "Again", access: AccessLevel.FULL, keyMaterial: material }))).toBe(Code.AlreadyExists);
  });
});

describe("GetApiKey and ListApiKeys", () => {
  it("pages through every key newest first without repeats", async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      created.push((await owner().createApiKey({ name: `Paging ${i}`, access: AccessLevel.FULL })).apiKey!.id);
    }
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await owner().listApiKeys({ pageSize: 2, pageToken });
      expect(page.apiKeys.length).toBeLessThanOrEqual(2);
      seen.push(...page.apiKeys.map((k) => k.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(new Set(seen).size).toBe(seen.length);
    const positions = created.map((id) => seen.indexOf(id));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => b - a)).toEqual(positions);
  });

  it("returns keys created in the same microsecond exactly once", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await owner().createApiKey({ name: `Same instant ${i}`, access: AccessLevel.FULL })).apiKey!.id);
    // now() is one microsecond-precise instant for the whole statement.
    await sql`update api_keys set created_at = now() where id in (${sql.join(ids)})`.execute(server.app.db);
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await owner().listApiKeys({ pageSize: 1, pageToken });
      seen.push(...page.apiKeys.map((k) => k.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen.filter((id) => ids.includes(id)).sort()).toEqual([...ids].sort());
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("names each key's creator, so that a list reads by whom rather than an id", async () => {
    const admin = server.apiKeys(server.principals.admin);
    const { apiKey } = await admin.createApiKey({ name: "Created by the admin", access: AccessLevel.FULL });
    expect(apiKey!.createdByName).toBe("Ada Admin");
    const listed = (await owner().listApiKeys({ pageSize: 1000 })).apiKeys.find((k) => k.id === apiKey!.id);
    expect(listed?.createdByName).toBe("Ada Admin");
    expect((await owner().getApiKey({ id: apiKey!.id })).apiKey!.createdByName).toBe("Ada Admin");
  });

  it("returns one key by id", async () => {
    const { apiKey } = await owner().createApiKey({ name: "Get me", access: AccessLevel.FULL });
    expect((await owner().getApiKey({ id: apiKey!.id })).apiKey?.name).toBe("Get me");
  });
});

describe("UpdateApiKey", () => {
  it("changes only the masked fields, bumps the etag and changes the next verification", async () => {
    const { apiKey, secret } = await owner().createApiKey({ name: "Looker staging", access: AccessLevel.CUSTOM, scopes: ["orders:read"] });
    expect((await service().verifyApiKey({ key: secret, requiredScopes: ["orders:write"] })).status).toBe(VerificationStatus.INSUFFICIENT_SCOPE);
    const res = await owner().updateApiKey({
      apiKey: { id: apiKey!.id, name: "ignored", scopes: ["orders:read", "orders:write"], etag: apiKey!.etag },
      updateMask: { paths: ["scopes"] },
    });
    expect(res.apiKey?.name).toBe("Looker staging");
    expect(res.apiKey?.scopes).toEqual(["orders:read", "orders:write"]);
    expect(res.apiKey?.etag).not.toBe(apiKey!.etag);
    expect((await service().verifyApiKey({ key: secret, requiredScopes: ["orders:write"] })).valid).toBe(true);
  });

  it("refuses a stale etag with Aborted and changes nothing", async () => {
    const { apiKey } = await owner().createApiKey({ name: "Stale", access: AccessLevel.FULL });
    await owner().updateApiKey({ apiKey: { id: apiKey!.id, name: "First" }, updateMask: { paths: ["name"] } });
    const code = await outcomeOf(owner().updateApiKey({ apiKey: { id: apiKey!.id, name: "Second", etag: apiKey!.etag }, updateMask: { paths: ["name"] } }));
    expect(code).toBe(Code.Aborted);
    expect((await owner().getApiKey({ id: apiKey!.id })).apiKey?.name).toBe("First");
  });

  it("when two admins update with the same etag at once, exactly one wins", async () => {
    const { apiKey } = await owner().createApiKey({ name: "Contended", access: AccessLevel.FULL });
    const admin = server.apiKeys(server.principals.admin);
    const results = await Promise.all(
      ["Owner's name", "Admin's name"].map((name, i) =>
        outcomeOf((i === 0 ? owner() : admin).updateApiKey({ apiKey: { id: apiKey!.id, name, etag: apiKey!.etag }, updateMask: { paths: ["name"] } })),
      ),
    );
    expect(results.sort()).toEqual(["ok", Code.Aborted].sort());
  });

  it("switching to FULL clears granted scopes; switching to CUSTOM needs scopes", async () => {
    const { apiKey } = await owner().createApiKey({ name: "Switch", access: AccessLevel.CUSTOM, scopes: ["orders:read"] });
    const full = await owner().updateApiKey({ apiKey: { id: apiKey!.id, access: AccessLevel.FULL }, updateMask: { paths: ["access"] } });
    expect(full.apiKey?.scopes).toEqual([]);
    expect(await outcomeOf(owner().updateApiKey({ apiKey: { id: apiKey!.id, access: AccessLevel.CUSTOM }, updateMask: { paths: ["access"] } }))).toBe(Code.InvalidArgument);
  });
});

describe("DeleteApiKey", () => {
  it("when the key is deleted, then it stops verifying and disappears from reads", async () => {
    const { apiKey, secret } = await owner().createApiKey({ name: "Delete me", access: AccessLevel.FULL });
    expect((await service().verifyApiKey({ key: secret })).valid).toBe(true);
    await owner().deleteApiKey({ id: apiKey!.id });
    expect((await service().verifyApiKey({ key: secret })).status).toBe(VerificationStatus.REVOKED);
    expect(await outcomeOf(owner().getApiKey({ id: apiKey!.id }))).toBe(Code.NotFound);
    expect((await owner().listApiKeys({ pageSize: 1000 })).apiKeys.map((k) => k.id)).not.toContain(apiKey!.id);
    expect(await outcomeOf(owner().deleteApiKey({ id: apiKey!.id }))).toBe(Code.NotFound);
  });

  it("with a grace period, the key leaves reads at once and verifies until the grace ends", async () => {
    const { apiKey, secret } = await owner().createApiKey({ name: "Delete gently", access: AccessLevel.FULL });
    await owner().deleteApiKey({ id: apiKey!.id, gracePeriod: durationFromMs(3600_000) });
    expect(await outcomeOf(owner().getApiKey({ id: apiKey!.id }))).toBe(Code.NotFound);
    expect(await outcomeOf(owner().updateApiKey({ apiKey: { id: apiKey!.id, name: "Revived" }, updateMask: { paths: ["name"] } }))).toBe(Code.NotFound);
    expect((await owner().listApiKeys({ pageSize: 1000 })).apiKeys.map((k) => k.id)).not.toContain(apiKey!.id);
    expect((await service().verifyApiKey({ key: secret })).valid).toBe(true);
    const events = (await owner().listAuditEvents({ apiKeyId: apiKey!.id })).events;
    expect(events[0]?.changes.map((c) => c.field)).toEqual(["name", "grace_period_seconds"]);
    // The hour passes.
    await server.app.db.updateTable("api_keys").set({ deleted_at: new Date(Date.now() - 1000) }).where("id", "=", apiKey!.id).execute();
    // The cache ends its entry at that moment too; the SQL above moved the moment, not the clock.
    server.app.caches.invalidate([apiKey!.id]);
    expect((await service().verifyApiKey({ key: secret })).status).toBe(VerificationStatus.REVOKED);
  });

  it("refuses a deletion grace period over 24 hours and keeps the key", async () => {
    const { apiKey } = await owner().createApiKey({ name: "Not so gently", access: AccessLevel.FULL });
    expect(await outcomeOf(owner().deleteApiKey({ id: apiKey!.id, gracePeriod: durationFromMs(25 * 3600_000) }))).toBe(Code.InvalidArgument);
    expect((await owner().getApiKey({ id: apiKey!.id })).apiKey?.name).toBe("Not so gently");
  });

  it("with a stale etag, refuses and keeps the key", async () => {
    const { apiKey } = await owner().createApiKey({ name: "Keep me", access: AccessLevel.FULL });
    expect(await outcomeOf(owner().deleteApiKey({ id: apiKey!.id, etag: '"999"' }))).toBe(Code.Aborted);
    expect((await owner().getApiKey({ id: apiKey!.id })).apiKey?.name).toBe("Keep me");
  });
});

describe("RotateApiKey", () => {
  it("without grace, the old secret stops at once and the new one verifies", async () => {
    const { apiKey, secret: oldSecret } = await owner().createApiKey({ name: "Rotate now", access: AccessLevel.FULL });
    const rotated = await owner().rotateApiKey({ id: apiKey!.id });
    expect(rotated.apiKey?.id).toBe(apiKey!.id);
    expect(rotated.secret).not.toBe(oldSecret);
    expect(rotated.secret.slice(3, 15)).toBe(apiKey!.id);
    expect((await service().verifyApiKey({ key: rotated.secret })).valid).toBe(true);
    expect((await service().verifyApiKey({ key: oldSecret })).valid).toBe(false);
  });

  it("with a grace period, both secrets verify until it ends, then the old one is expired", async () => {
    const { apiKey, secret: oldSecret } = await owner().createApiKey({ name: "Rotate gently", access: AccessLevel.FULL });
    const rotated = await owner().rotateApiKey({ id: apiKey!.id, gracePeriod: durationFromMs(3600_000) });
    const expires = Number(rotated.apiKey!.previousSecretExpireTime!.seconds) * 1000;
    expect(Math.abs(expires - Date.now() - 3600_000)).toBeLessThan(60_000);
    expect((await service().verifyApiKey({ key: oldSecret })).valid).toBe(true);
    expect((await service().verifyApiKey({ key: rotated.secret })).valid).toBe(true);
    // The hour passes.
    await server.app.db.updateTable("api_keys").set({ previous_expires_at: new Date(Date.now() - 1000) }).where("id", "=", apiKey!.id).execute();
    // The cache ends its entry at that moment too; the SQL above moved the moment, not the clock.
    server.app.caches.invalidate([apiKey!.id]);
    expect((await service().verifyApiKey({ key: oldSecret })).status).toBe(VerificationStatus.EXPIRED);
    expect((await service().verifyApiKey({ key: rotated.secret })).valid).toBe(true);
    expect((await owner().getApiKey({ id: apiKey!.id })).apiKey?.previousSecretExpireTime).toBeUndefined();
  });

  it("takes client-minted key material for the new secret, but not the current secret again", async () => {
    const { mintToken } = await import("../contract/key-format.js");
    const material = mintToken("ak");
    const { apiKey } = await owner().createApiKey({ name: "Minted rotation", access: AccessLevel.FULL, keyMaterial: material });
    expect(await outcomeOf(owner().rotateApiKey({ id: apiKey!.id, keyMaterial: material }))).toBe(Code.InvalidArgument);
    const next = mintToken("ak", apiKey!.id);
    const rotated = await owner().rotateApiKey({ id: apiKey!.id, keyMaterial: next });
    expect(rotated.secret).toBe("");
    expect((await service().verifyApiKey({ key: next })).valid).toBe(true);
    expect((await service().verifyApiKey({ key: material })).valid).toBe(false);
  });

  it("refuses a stale etag", async () => {
    const { apiKey } = await owner().createApiKey({ name: "Rotate stale", access: AccessLevel.FULL });
    await owner().rotateApiKey({ id: apiKey!.id, etag: apiKey!.etag });
    expect(await outcomeOf(owner().rotateApiKey({ id: apiKey!.id, etag: apiKey!.etag }))).toBe(Code.Aborted);
  });

  it("refuses a grace period over 24 hours", async () => {
    const { apiKey } = await owner().createApiKey({ name: "Too gentle", access: AccessLevel.FULL });
    expect(await outcomeOf(owner().rotateApiKey({ id: apiKey!.id, gracePeriod: durationFromMs(25 * 3600_000) }))).toBe(Code.InvalidArgument);
  });
});

describe("VerifyApiKey", () => {
  it("answers each outcome with its status and details only for found keys", async () => {
    const { apiKey, secret } = await owner().createApiKey({ name: "Verify", access: AccessLevel.CUSTOM, scopes: ["orders:read"] });
    const valid = await service().verifyApiKey({ key: secret, requiredScopes: ["orders:read"] });
    expect(valid).toMatchObject({ valid: true, status: VerificationStatus.VALID, keyId: apiKey!.id, workspaceId: server.principals.workspaceId, access: AccessLevel.CUSTOM, scopes: ["orders:read"], legacy: false });
    const lacking = await service().verifyApiKey({ key: secret, requiredScopes: ["orders:read", "customers:read"] });
    expect(lacking).toMatchObject({ valid: false, status: VerificationStatus.INSUFFICIENT_SCOPE, missingScopes: ["customers:read"] });
    const malformed = await service().verifyApiKey({ key: secret.slice(0, -1) + (secret.endsWith("a") ? "b" : "a") });
    expect(malformed).toMatchObject({ valid: false, status: VerificationStatus.MALFORMED, keyId: "" });
    const { mintToken } = await import("../contract/key-format.js");
    expect((await service().verifyApiKey({ key: mintToken("ak") })).status).toBe(VerificationStatus.NOT_FOUND);
    const wrongSecret = mintToken("ak", apiKey!.id);
    expect(await service().verifyApiKey({ key: wrongSecret })).toMatchObject({ status: VerificationStatus.NOT_FOUND, keyId: "" });
  });

  it("remembers a wrong secret: the next try is refused from memory, no sooner than its check took; a rotation to it makes it valid", async () => {
    const { mintToken } = await import("../contract/key-format.js");
    const { apiKey } = await owner().createApiKey({ name: "Guessed", access: AccessLevel.FULL });
    const wrong = mintToken("ak", apiKey!.id);
    const cache = server.app.caches.keys;
    expect((await service().verifyApiKey({ key: wrong })).status).toBe(VerificationStatus.NOT_FOUND);
    const refusal = cache.get(wrong);
    expect(refusal).toMatchObject({ refused: true });
    const checkMs = refusal && "refused" in refusal ? refusal.checkMs : Number.NaN;
    expect(checkMs).toBeGreaterThan(0);

    const hits = cache.stats().hits;
    const started = performance.now();
    expect(await service().verifyApiKey({ key: wrong })).toMatchObject({ valid: false, status: VerificationStatus.NOT_FOUND, keyId: "" });
    expect(performance.now() - started).toBeGreaterThanOrEqual(checkMs);
    expect(cache.stats().hits).toBe(hits + 1);
    // Many at once are released in ticks, each still no sooner than the check took.
    const answered = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const t0 = performance.now();
        const { status } = await service().verifyApiKey({ key: wrong });
        return { status, ms: performance.now() - t0 };
      }),
    );
    expect(answered.every((a) => a.status === VerificationStatus.NOT_FOUND)).toBe(true);
    expect(Math.min(...answered.map((a) => a.ms))).toBeGreaterThanOrEqual(checkMs);
    expect(cache.stats().hits).toBe(hits + 21);

    await owner().rotateApiKey({ id: apiKey!.id, keyMaterial: wrong });
    expect((await service().verifyApiKey({ key: wrong })).valid).toBe(true);
  });

  it("decides a cached verification with no query: it answers on both listeners while every table it could read is locked", async () => {
    // Fresh keys each run: a run whose listener went down may have left its cold key verified.
    await whileListening(server, async () => {
      const full = await owner().createApiKey({ name: "Locked out, full", access: AccessLevel.FULL });
      const custom = await owner().createApiKey({ name: "Locked out, custom", access: AccessLevel.CUSTOM, scopes: ["orders:read"] });
      const cold = await owner().createApiKey({ name: "Locked out, cold", access: AccessLevel.FULL });
      const listeners = ["grpc", "http"] as const;
      const verify = (listener: (typeof listeners)[number], key: string, timeoutMs: number) =>
        server.apiKeys(server.principals.service, listener).verifyApiKey({ key, requiredScopes: ["orders:read"] }, { timeoutMs });
      // Warms the caches: the caller's token and both keys.
      for (const listener of listeners) for (const { secret } of [full, custom]) expect((await verify(listener, secret, 10_000)).valid).toBe(true);

      // Another session takes every table a verification could read, so that any query would wait.
      const lock = await lockTables(server.app.databaseUrl, ["api_keys", "legacy_keys", "principal_tokens", "principals", "scopes", "workspaces"]);
      try {
        const hits = server.app.caches.keys.stats().hits;
        const kept = server.app.caches.answers.stats().hits;
        const answers = await Promise.all(
          listeners.flatMap((listener) => Array.from({ length: 100 }, (_, i) => verify(listener, (i % 2 ? full : custom).secret, 5_000))),
        );
        expect(answers.map((a) => VerificationStatus[a.status])).toEqual(Array(200).fill("VALID"));
        // The gRPC port sends the answers it kept from the warm-up calls; the HTTP port decides from the key cache.
        expect(server.app.caches.answers.stats().hits - kept).toBe(100);
        expect(server.app.caches.keys.stats().hits - hits).toBe(100);
        // The control: a key not yet verified needs its row, and waits for the lock.
        expect(await outcomeOf(verify("grpc", cold.secret, 500))).toBe(Code.DeadlineExceeded);
      } finally {
        await lock.release();
      }
      expect((await verify("grpc", cold.secret, 10_000)).valid).toBe(true);
    });
  });

  it("after a scope is added, a cached FULL key is answered from the previous catalog with no query until the replica has read the new one", async () => {
    const { secret } = await owner().createApiKey({ name: "Full while the catalog changes", access: AccessLevel.FULL });
    const verify = (timeoutMs: number) => service().verifyApiKey({ key: secret, requiredScopes: ["shipments:read"] }, { timeoutMs });
    expect((await verify(10_000)).status).toBe(VerificationStatus.INSUFFICIENT_SCOPE);
    // The scope goes in first; the change that announces it comes while its table is locked, so
    // the replica's read of the new catalog waits.
    await addScopes(server.app.db, [{ name: "shipments:read", description: "" }]);
    const lock = await lockTables(server.app.databaseUrl, ["scopes"]);
    let changeId: string;
    try {
      changeId = await server.app.db.transaction().execute((tx) => recordChange(tx, [SCOPES_SUBJECT]));
      await expect.poll(() => lock.waiting()).toBe(1);
      // Not confirmed, so not in force yet: the previous catalog answers, at once.
      const answers = await Promise.all(Array.from({ length: 20 }, () => verify(500)));
      expect(answers.map((a) => VerificationStatus[a.status])).toEqual(Array(20).fill("INSUFFICIENT_SCOPE"));
      expect(await confirmed()).toBeLessThan(BigInt(changeId));
    } finally {
      await lock.release();
    }
    // Confirmed once read: from then on the new scope is passed.
    await server.app.replica.awaitConfirmation(changeId);
    expect(await confirmed()).toBeGreaterThanOrEqual(BigInt(changeId));
    const after = await verify(500);
    expect(after.valid).toBe(true);
    expect(after.scopes).toContain("shipments:read");
  });

  it("while its tables are locked, background work waits with one statement per task instead of draining the pool", async () => {
    const { apiKey, secret } = await owner().createApiKey({ name: "Used while locked", access: AccessLevel.FULL });
    expect((await service().verifyApiKey({ key: secret })).valid).toBe(true);
    const lock = await lockTables(server.app.databaseUrl, ["api_keys", "legacy_keys"]);
    const lockedAt = Date.now();
    try {
      // The test server flushes last-used times and reloads legacy hints every 100 ms: over a
      // second, ten ticks of each find their previous run still waiting for the lock.
      for (let i = 0; i < 10; i++) {
        expect((await service().verifyApiKey({ key: secret })).valid).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // One per task; another background task that reads these tables would add its own.
      expect(await lock.waiting()).toBe(2);
    } finally {
      await lock.release();
    }
    // The waiting flush then goes through, and the uses made under the lock are not lost.
    const lastUsed = async () => (await owner().getApiKey({ id: apiKey!.id })).apiKey?.lastUsedTime;
    await expect.poll(async () => timestampMs((await lastUsed()) ?? timestampFromMs(0))).toBeGreaterThanOrEqual(lockedAt);
    expect(server.logs.join("\n")).not.toContain("could not record last-used times");
  });

  it("upgrades a hash made with older argon2 parameters after a successful check", async () => {
    const { apiKey, secret } = await owner().createApiKey({ name: "Old hash", access: AccessLevel.FULL });
    const argon2 = (await import("argon2")).default;
    const old = await argon2.hash(secret, { type: argon2.argon2id, memoryCost: 2048, timeCost: 3, parallelism: 1 });
    await server.app.db.updateTable("api_keys").set({ hash: old }).where("id", "=", apiKey!.id).execute();
    expect((await service().verifyApiKey({ key: secret })).valid).toBe(true);
    const current = `m=${server.config.argon2.memoryCost},t=${server.config.argon2.timeCost},p=${server.config.argon2.parallelism}`;
    await expect
      .poll(async () => (await server.app.db.selectFrom("api_keys").select("hash").where("id", "=", apiKey!.id).executeTakeFirstOrThrow()).hash)
      .toContain(current);
    expect((await service().verifyApiKey({ key: secret })).valid).toBe(true);
  });

  it("records last use in a batch shortly after", async () => {
    const { apiKey, secret } = await owner().createApiKey({ name: "Used once", access: AccessLevel.FULL });
    expect((await owner().getApiKey({ id: apiKey!.id })).apiKey?.lastUsedTime).toBeUndefined();
    await service().verifyApiKey({ key: secret });
    await expect.poll(async () => (await owner().getApiKey({ id: apiKey!.id })).apiKey?.lastUsedTime, { timeout: 5000 }).toBeDefined();
  });
});

describe("ListAuditEvents", () => {
  it("records create, update, rotate and delete with actor and changes, never a secret", async () => {
    const { apiKey, secret } = await owner().createApiKey({ name: "Audited", access: AccessLevel.CUSTOM, scopes: ["orders:read"] });
    await owner().updateApiKey({ apiKey: { id: apiKey!.id, name: "Audited v2" }, updateMask: { paths: ["name"] } });
    const rotated = await owner().rotateApiKey({ id: apiKey!.id });
    await owner().deleteApiKey({ id: apiKey!.id });
    const { events } = await owner().listAuditEvents({ apiKeyId: apiKey!.id });
    expect(events.map((e) => e.action)).toEqual([AuditAction.DELETE, AuditAction.ROTATE, AuditAction.UPDATE, AuditAction.CREATE]);
    expect(events.every((e) => e.actorName === "Olivia Owner" && e.workspaceId === server.principals.workspaceId)).toBe(true);
    expect(events[2]?.changes).toEqual([expect.objectContaining({ field: "name", oldValue: '"Audited"', newValue: '"Audited v2"' })]);
    const text = textOf(events);
    for (const s of [secret, rotated.secret]) expect(text).not.toContain(s.slice(15, 47));
  });

  it("pages with a token", async () => {
    const first = await owner().listAuditEvents({ pageSize: 1 });
    expect(first.events).toHaveLength(1);
    const second = await owner().listAuditEvents({ pageSize: 1, pageToken: first.nextPageToken });
    expect(Number(second.events[0]?.id)).toBeLessThan(Number(first.events[0]?.id));
  });
});
