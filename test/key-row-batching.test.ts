// First verifications of many keys at once (a restarted replica under its service's traffic) look
// their key rows up together, a few queries at a time, instead of one query per key.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { findApiKeysByIds } from "../server/api-key/api-key.repository.js";
import { createBatchedLookup } from "../server/db/batched-lookup.js";
import { lockTables } from "./support/database.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const KEYS = 120;
let server: TestServer;
let keys: Array<{ id: string; secret: string }>;

beforeAll(async () => {
  server = await startTestServer();
  const owner = server.apiKeys(server.principals.owner, "grpc");
  keys = [];
  for (let i = 0; i < KEYS; i += 8) {
    const made = await Promise.all(
      Array.from({ length: Math.min(8, KEYS - i) }, (_, j) => owner.createApiKey({ name: `Batch key ${i + j}`, access: AccessLevel.CUSTOM, scopes: ["orders:read"] })),
    );
    keys.push(...made.map((m) => ({ id: m.apiKey!.id, secret: m.secret })));
  }
}, 120_000);

afterAll(() => server?.stop());

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("first verifications of many keys at once", () => {
  it("when every key misses the cache together, then their rows come in a few queries and every key verifies", async () => {
    const verifier = server.apiKeys(server.principals.service, "grpc");
    // The caller's own token is checked first, so that only key rows are left to read.
    expect((await verifier.verifyApiKey({ key: "ak_malformed" })).status).toBe(VerificationStatus.MALFORMED);
    // Every read of api_keys waits behind this lock: each query in flight is a session waiting.
    const lock = await lockTables(server.app.databaseUrl, ["api_keys"]);
    let calls: Promise<Array<{ status: VerificationStatus }>> | undefined;
    let mostWaiting = 0;
    try {
      calls = Promise.all(keys.map((k) => verifier.verifyApiKey({ key: k.secret, requiredScopes: ["orders:read"] })));
      await until("a key lookup waiting for the lock", async () => (await lock.waiting()) >= 1);
      // One query per key would fill the database pool (10 sessions) within these polls; the
      // batches take 4 of them at most. (A slow machine can only make this pass, never fail.)
      for (let poll = 0; poll < 40 && mostWaiting <= 4; poll++) {
        mostWaiting = Math.max(mostWaiting, await lock.waiting());
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    } finally {
      await lock.release();
    }
    const answers = await calls!;
    expect(mostWaiting).toBeLessThanOrEqual(4);
    expect(answers.map((a) => VerificationStatus[a.status])).toEqual(keys.map(() => "VALID"));
  });

  it("answers each id its own row, or none, in fewer queries than ids, and a failed query fails only its own callers", async () => {
    let queries = 0;
    let failNext = false;
    const lookup = createBatchedLookup(
      async (ids) => {
        queries++;
        if (failNext) {
          failNext = false;
          throw new Error("query failed");
        }
        return findApiKeysByIds(server.app.db, ids);
      },
      { maxInFlight: 2, maxBatch: 50 },
    );
    const ids = [...keys.map((k) => k.id), "000000000000", keys[0]!.id];
    const rows = await Promise.all(ids.map((id) => lookup(id)));
    expect(rows.map((r) => r?.id)).toEqual([...keys.map((k) => k.id), undefined, keys[0]!.id]);
    expect(queries).toBeGreaterThanOrEqual(Math.ceil((KEYS + 1) / 50));
    expect(queries).toBeLessThanOrEqual(Math.ceil((KEYS + 1) / 50) + 2);

    failNext = true;
    await expect(lookup(keys[1]!.id)).rejects.toThrow("query failed");
    expect((await lookup(keys[1]!.id))?.id).toBe(keys[1]!.id);
  });
});
