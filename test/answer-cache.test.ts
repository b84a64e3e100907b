// Kept VerifyApiKey answers on the gRPC port (server/verify/answer-cache.ts): a repeated call is
// sent the answer kept from the first, and every change that could alter that answer drops it
// first: the key's, the caller's and the scope catalog's.
import { setTimeout as sleep } from "node:timers/promises";
import { Code, createContextValues } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { createHasher } from "../server/hashing.js";
import { addPrincipal } from "../server/principal/principal.admin.js";
import type { CachedCaller } from "../server/principal/authenticate.js";
import { principalSubject } from "../server/replica/change.repository.js";
import { createScopeCatalog } from "../server/scope/scope-catalog.js";
import { createAnswerCache, MAX_KEPT_ANSWER_BYTES, reusableAnswerKey, type KeptAnswer, type ReusableAnswer } from "../server/verify/answer-cache.js";
import { createVerificationCache, type CachedKey } from "../server/verify/verification-cache.js";
import { outcomeOf } from "./support/outcome.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

describe("the answer cache, on its own", () => {
  const key: CachedKey = { subject: "ak_one", workspaceId: "ws_one", access: "custom", scopes: ["orders:read"], legacy: false, expiresAt: Date.now() + 60_000 };
  const callerOf = (id: string): CachedCaller => ({ id, name: "gateway", kind: "service", workspaceId: null, role: null, subject: principalSubject(id), expiresAt: Date.now() + 60_000 });
  const caller = callerOf("pr_caller");
  const callWith = (...authorization: string[]) => {
    const metadata = new grpc.Metadata();
    for (const value of authorization) metadata.add("authorization", value);
    return { metadata } as never;
  };
  const request = Buffer.from("request bytes");
  const answer = Buffer.from([8, 1, 16, 1]);
  const reusable = (over: Partial<ReusableAnswer> = {}) =>
    ({ values: createContextValues().set(reusableAnswerKey, { key, caller, catalog: undefined, status: "valid", ...over }) }) as never;
  const fresh = () => {
    const options = { ttlMs: 60_000, maxEntries: 100 };
    const keys = createVerificationCache(options);
    const callers = createVerificationCache<CachedCaller>(options);
    const catalog = createScopeCatalog(server.app.db);
    const reused: KeptAnswer[] = [];
    const cache = createAnswerCache({ keys, callers, catalog, maxEntries: 100, timed: false, onReuse: (a) => reused.push(a) });
    /** Looks the call up, then offers `answer` computed with `ctx`, as the adapter does on a miss. */
    const answerOnce = (call: never, ctx: never, between = () => {}, bytes = answer) => {
      const miss = cache.lookup(call, request);
      expect(Buffer.isBuffer(miss)).toBe(false);
      between();
      if (miss !== undefined) cache.offer(miss as never, bytes, ctx);
    };
    const isKept = (call: never) => Buffer.isBuffer(cache.lookup(call, request));
    return { keys, callers, catalog, cache, reused, answerOnce, isKept };
  };

  it("sends a kept answer again for the same header and request only, and reports each reuse", () => {
    const { cache, reused, answerOnce, isKept } = fresh();
    answerOnce(callWith("Bearer a"), reusable());

    expect(cache.lookup(callWith("Bearer a"), request)).toEqual(answer);
    expect(isKept(callWith("Bearer b"))).toBe(false);
    expect(Buffer.isBuffer(cache.lookup(callWith("Bearer a"), Buffer.from("other request")))).toBe(false);
    expect(reused.map((a) => [a.key, a.caller])).toEqual([[key, caller]]);
    expect(cache.stats()).toEqual({ hits: 1, misses: 3, size: 1, evictions: { stale: 0, full: 0 } });
  });

  it("keeps nothing unmarked, nothing past its key's or caller's expiry, nothing long, and nothing for a call without exactly one authorization header", () => {
    const { cache, answerOnce, isKept } = fresh();
    answerOnce(callWith("Bearer a"), { values: createContextValues() } as never);
    answerOnce(callWith("Bearer b"), reusable({ key: { ...key, expiresAt: Date.now() - 1 } }));
    answerOnce(callWith("Bearer c"), reusable({ caller: { ...caller, expiresAt: Date.now() - 1 } }));
    answerOnce(callWith("Bearer d"), reusable(), () => {}, Buffer.alloc(MAX_KEPT_ANSWER_BYTES + 1));
    answerOnce(callWith(), reusable());
    answerOnce(callWith("Bearer e", "Bearer f"), reusable());

    expect(cache.stats().size).toBe(0);
    expect(isKept(callWith("Bearer a"))).toBe(false);
  });

  it("never keeps an answer computed across a change to its key or caller", () => {
    const { keys, callers, cache, answerOnce } = fresh();
    answerOnce(callWith("Bearer a"), reusable(), () => keys.evict(key.subject));
    answerOnce(callWith("Bearer b"), reusable(), () => callers.evict(principalSubject(caller.id)));
    answerOnce(callWith("Bearer c"), reusable(), () => keys.clear());

    expect(cache.stats().size).toBe(0);
  });

  it("stops sending a kept answer once its key, its caller or (for a FULL key) the catalog changed, or while the caches are off", async () => {
    const { keys, callers, catalog, answerOnce, isKept } = fresh();
    const snapshot = await catalog.current();
    const calls = ["key", "caller", "catalog", "off"].map((name) => callWith(`Bearer ${name}`));
    // Each on its own key and caller, so that each change concerns one of them.
    const on = (n: number, over: Partial<CachedKey> = {}) => ({ key: { ...key, subject: `ak_${n}`, ...over }, caller: callerOf(`pr_${n}`) });
    answerOnce(calls[0]!, reusable(on(0)));
    answerOnce(calls[1]!, reusable(on(1)));
    answerOnce(calls[2]!, reusable({ ...on(2, { access: "full" }), catalog: snapshot }));
    answerOnce(calls[3]!, reusable(on(3)));
    expect(calls.map(isKept)).toEqual([true, true, true, true]);

    keys.evict("ak_0");
    callers.evict(principalSubject("pr_1"));
    await catalog.refresh();
    expect(calls.map(isKept)).toEqual([false, false, false, true]);
    callers.setEnabled(false);
    expect(isKept(calls[3]!)).toBe(false);
    callers.setEnabled(true); // on again, starting empty: what was kept stays out of date
    expect(isKept(calls[3]!)).toBe(false);
  });
});

describe("kept answers on a server", () => {
  const owner = () => server.apiKeys(server.principals.owner);
  const kept = () => server.app.caches.answers.stats().hits;

  it("answer a repeated call with the first one's answer, per key, caller and required scopes, and record the key's use", async () => {
    const created = await owner().createApiKey({ name: "Repeated", access: AccessLevel.CUSTOM, scopes: ["orders:read"] });
    const verify = (requiredScopes: string[], token = server.principals.service) =>
      server.apiKeys(token, "grpc").verifyApiKey({ key: created.secret, requiredScopes });
    const lastUsed = async () =>
      (await server.app.db.selectFrom("api_keys").select("last_used_at").where("id", "=", created.apiKey!.id).executeTakeFirstOrThrow()).last_used_at;
    const first = await verify(["orders:read"]);
    // The first call's use is written (a flush every 100 ms here); then nothing is left to write.
    await expect.poll(lastUsed).not.toBeNull();
    await sql`update api_keys set last_used_at = null where id = ${created.apiKey!.id}`.execute(server.app.db);
    await sleep(300);
    expect(await lastUsed()).toBeNull();

    const before = kept();
    const again = await verify(["orders:read"]);
    expect(kept() - before).toBe(1);
    expect(again).toEqual(first);
    // The kept answer's use is recorded like any other.
    await expect.poll(lastUsed).not.toBeNull();

    const otherScopes = await verify(["orders:write"]);
    const otherCaller = await verify(["orders:read"], server.principals.owner);
    expect(kept() - before).toBe(1);
    expect(VerificationStatus[otherScopes.status]).toBe("INSUFFICIENT_SCOPE");
    expect(otherCaller.valid).toBe(true);
  });

  it("drop a caller's answers when its token is revoked: the next identical call is refused", async () => {
    const service = await addPrincipal(server.app.db, createHasher(server.config.argon2), { kind: "service", name: "leaving-gateway" });
    const created = await owner().createApiKey({ name: "Verified by a leaving service", access: AccessLevel.FULL });
    const verify = () => server.apiKeys(service.token, "grpc").verifyApiKey({ key: created.secret });
    await verify();
    const before = kept();
    expect((await verify()).valid).toBe(true);
    expect(kept() - before).toBe(1);

    await server.operate("tokens", "revoke", "--principal", service.principalId);

    expect(await outcomeOf(verify())).toBe(Code.Unauthenticated);
  });

  it("drop a FULL key's answers when a scope is added: the next identical call names the new scope", async () => {
    const created = await owner().createApiKey({ name: "Full, before a new scope", access: AccessLevel.FULL });
    const verify = () => server.apiKeys(server.principals.service, "grpc").verifyApiKey({ key: created.secret, requiredScopes: ["audit:read"] });
    expect(VerificationStatus[(await verify()).status]).toBe("INSUFFICIENT_SCOPE");
    const before = kept();
    expect(VerificationStatus[(await verify()).status]).toBe("INSUFFICIENT_SCOPE");
    expect(kept() - before).toBe(1);

    await server.operate("scopes", "add", "audit:read");

    const after = await verify();
    expect([VerificationStatus[after.status], after.scopes.includes("audit:read")]).toEqual(["VALID", true]);
  });

  it("drop a key's answers when it changes: the next identical call sees the change", async () => {
    const created = await owner().createApiKey({ name: "Custom, about to lose a scope", access: AccessLevel.CUSTOM, scopes: ["orders:read", "orders:write"] });
    const verify = () => server.apiKeys(server.principals.service, "grpc").verifyApiKey({ key: created.secret, requiredScopes: ["orders:write"] });
    await verify();
    const before = kept();
    expect((await verify()).valid).toBe(true);
    expect(kept() - before).toBe(1);

    await owner().updateApiKey({ apiKey: { id: created.apiKey!.id, scopes: ["orders:read"] }, updateMask: { paths: ["scopes"] } });
    const changed = await verify();
    const beforeDelete = kept();
    expect((await verify()).valid).toBe(false);
    expect(kept() - beforeDelete).toBe(1); // that answer was kept, and the delete must retire it
    await owner().deleteApiKey({ id: created.apiKey!.id });
    const deleted = await verify();

    expect([VerificationStatus[changed.status], changed.missingScopes]).toEqual(["INSUFFICIENT_SCOPE", ["orders:write"]]);
    expect(VerificationStatus[deleted.status]).toBe("REVOKED");
  });
});
