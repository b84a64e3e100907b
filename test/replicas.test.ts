// Three `apikeys serve` processes on one database, as an operator runs replicas behind a load
// balancer: a delete, a scope change or a rotation answered by one replica is in force on every
// replica by the time it returns, although each replica had the key in its cache and kept the answer
// to the very call that follows.
import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { ApiKeyService, VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { startServeProcess, type ServeProcess } from "./support/serve-process.js";
import { TEST_ARGON2_ENV } from "./support/test-server.js";

const TRIALS = 200;
// Trials run a few at a time: enough to overlap changes, few enough for two cores.
const PARALLEL = 4;

let database: TestDatabase;
let replicas: ServeProcess[] = [];
let verifiers: Client<typeof ApiKeyService>[];
let managers: Client<typeof ApiKeyService>[];

beforeAll(async () => {
  database = await createTestDatabase();
  const env = { DATABASE_URL: database.url, ...TEST_ARGON2_ENV };
  const cli = async (...args: string[]) =>
    (await promisify(execFile)("bin/apikeys", args, { env: { ...process.env, ...env, APIKEYS_LOG_LEVEL: "warn" } })).stdout.trim();
  const ownerToken = await cli("bootstrap", "--workspace", "Acme", "--owner", "ada@example.com");
  const serviceToken = await cli("services", "add", "--name", "api-gateway");
  replicas = await Promise.all([0, 1, 2].map(() => startServeProcess({ ...env, APIKEYS_LOG_LEVEL: "debug" })));
  const bearer = (token: string): Interceptor => (next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req));
  verifiers = replicas.map((r) =>
    createClient(ApiKeyService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${r.grpcPort}`, interceptors: [bearer(serviceToken)] })),
  );
  managers = replicas.map((r) =>
    createClient(ApiKeyService, createConnectTransport({ baseUrl: `http://127.0.0.1:${r.httpPort}`, httpVersion: "1.1", interceptors: [bearer(ownerToken)] })),
  );
}, 120_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await database?.drop();
});

/** Runs `trial(0..n-1)`, `width` at a time. */
async function inParallel(n: number, width: number, trial: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await trial(next++);
    }),
  );
}

/**
 * How many VerifyApiKey calls each replica has answered from memory (its debug log lines): decided
 * from its key cache ("hit"), or sent the answer it kept from an identical earlier call ("answer").
 */
type Memory = "hit" | "answer";
const servedFrom = (memory: Memory) => replicas.map((r) => r.output().split(`"cache":"${memory}"`).length - 1);

/**
 * Asserts that every replica answered at least `trials` verifications from `memory` since
 * `before`: each trial's second warm-up call on each replica. Waits for the replicas' log lines
 * (the `cache` field of the "rpc" line) to arrive.
 */
async function expectEveryReplicaServedFrom(memory: Memory, before: number[], trials = TRIALS): Promise<void> {
  await vi.waitFor(() => {
    for (const [n, count] of servedFrom(memory).entries()) expect(count - before[n]!, `"${memory}" answers of replica ${n}`).toBeGreaterThanOrEqual(trials);
  });
}

/** Every change was confirmed by every replica (none returned on the timeout), and no listener failed. */
function expectEveryChangeConfirmed(): void {
  for (const [n, r] of replicas.entries()) {
    expect(r.output(), `replica ${n}`).not.toContain("did not confirm a change in time");
    expect(r.output(), `replica ${n}`).not.toContain("replica listener down");
  }
}

const status = (s: VerificationStatus) => VerificationStatus[s];

describe("three replicas on one database", () => {
  it("are each registered, with a heartbeat", async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ id: string; fresh: boolean }>(
        "select id, heartbeat_at > now() - interval '3 seconds' as fresh from replicas",
      );
      expect(rows).toHaveLength(3);
      expect(rows.every((r) => r.fresh)).toBe(true);
      const listeners = await client.query("select 1 from pg_stat_activity where application_name like 'apikeys-listener-%' and datname = current_database()");
      expect(listeners.rows).toHaveLength(3);
    } finally {
      await client.end();
    }
  });

  it(`refuse a deleted key on the very next call, on every replica, with warm caches (${TRIALS} trials)`, async () => {
    const before = servedFrom("answer");
    const wrong: string[] = [];
    await inParallel(TRIALS, PARALLEL, async (i) => {
      const { apiKey, secret } = await managers[(i + 1) % 3]!.createApiKey({ name: `Delete trial ${i}`, access: AccessLevel.FULL });
      for (const verifier of verifiers) {
        for (let warm = 0; warm < 2; warm++) expect(status((await verifier.verifyApiKey({ key: secret })).status)).toBe("VALID");
      }
      await managers[i % 3]!.deleteApiKey({ id: apiKey!.id });
      const after = await Promise.all(verifiers.map((v) => v.verifyApiKey({ key: secret })));
      after.forEach((r, n) => r.status !== VerificationStatus.REVOKED && wrong.push(`trial ${i}, replica ${n}: ${status(r.status)}`));
    });
    expect(wrong).toEqual([]);
    expectEveryChangeConfirmed();
    await expectEveryReplicaServedFrom("answer", before);
  }, 120_000);

  it(`refuse a scope removed from a CUSTOM key on the very next call, on every replica (${TRIALS} trials)`, async () => {
    const before = servedFrom("answer");
    const wrong: string[] = [];
    await inParallel(TRIALS, PARALLEL, async (i) => {
      const { apiKey, secret } = await managers[(i + 1) % 3]!.createApiKey({
        name: `Scope trial ${i}`,
        access: AccessLevel.CUSTOM,
        scopes: ["orders:read", "reports:export"],
      });
      const check = { key: secret, requiredScopes: ["reports:export"] };
      for (const verifier of verifiers) {
        for (let warm = 0; warm < 2; warm++) expect(status((await verifier.verifyApiKey(check)).status)).toBe("VALID");
      }
      await managers[i % 3]!.updateApiKey({ apiKey: { id: apiKey!.id, scopes: ["orders:read"] }, updateMask: { paths: ["scopes"] } });
      const after = await Promise.all(verifiers.map((v) => v.verifyApiKey(check)));
      after.forEach((r, n) => {
        if (r.status !== VerificationStatus.INSUFFICIENT_SCOPE || r.missingScopes.join() !== "reports:export") {
          wrong.push(`trial ${i}, replica ${n}: ${status(r.status)} missing [${r.missingScopes.join()}]`);
        }
      });
    });
    expect(wrong).toEqual([]);
    expectEveryChangeConfirmed();
    await expectEveryReplicaServedFrom("answer", before);
  }, 120_000);

  it(`refuse a rotated-out secret and accept the new one on the very next call, on every replica (${TRIALS} trials)`, async () => {
    const before = servedFrom("answer");
    const wrong: string[] = [];
    await inParallel(TRIALS, PARALLEL, async (i) => {
      const { apiKey, secret: old } = await managers[(i + 1) % 3]!.createApiKey({ name: `Rotation trial ${i}`, access: AccessLevel.FULL });
      for (const verifier of verifiers) {
        for (let warm = 0; warm < 2; warm++) expect(status((await verifier.verifyApiKey({ key: old })).status)).toBe("VALID");
      }
      const { secret: fresh } = await managers[i % 3]!.rotateApiKey({ id: apiKey!.id });
      const [olds, news] = await Promise.all([
        Promise.all(verifiers.map((v) => v.verifyApiKey({ key: old }))),
        Promise.all(verifiers.map((v) => v.verifyApiKey({ key: fresh }))),
      ]);
      olds.forEach((r, n) => r.valid && wrong.push(`trial ${i}, replica ${n}: the old secret is ${status(r.status)}`));
      news.forEach((r, n) => r.status !== VerificationStatus.VALID && wrong.push(`trial ${i}, replica ${n}: the new secret is ${status(r.status)}`));
    });
    expect(wrong).toEqual([]);
    expectEveryChangeConfirmed();
    await expectEveryReplicaServedFrom("answer", before);
  }, 120_000);

  it("accept a remembered wrong secret on the very next call, on every replica, once a rotation makes it the key's (50 trials)", async () => {
    const { mintToken } = await import("../contract/key-format.js");
    const before = servedFrom("hit");
    const wrong: string[] = [];
    await inParallel(50, PARALLEL, async (i) => {
      const { apiKey, secret } = await managers[(i + 1) % 3]!.createApiKey({ name: `Guess trial ${i}`, access: AccessLevel.FULL });
      const guess = mintToken(secret.slice(0, secret.indexOf("_")), apiKey!.id);
      for (const verifier of verifiers) {
        // The second try is answered from the replica's memory of the first.
        for (let again = 0; again < 2; again++) expect(status((await verifier.verifyApiKey({ key: guess })).status)).toBe("NOT_FOUND");
      }
      await managers[i % 3]!.rotateApiKey({ id: apiKey!.id, keyMaterial: guess });
      const answers = await Promise.all(verifiers.map((v) => v.verifyApiKey({ key: guess })));
      answers.forEach((r, n) => r.status !== VerificationStatus.VALID && wrong.push(`trial ${i}, replica ${n}: the rotated-in secret is ${status(r.status)}`));
    });
    expect(wrong).toEqual([]);
    expectEveryChangeConfirmed();
    await expectEveryReplicaServedFrom("hit", before, 50);
  }, 120_000);

  it("never keep a key valid in a cache when verifications race its delete (30 races)", async () => {
    const wrong: string[] = [];
    for (let i = 0; i < 30; i++) {
      const { apiKey, secret } = await managers[i % 3]!.createApiKey({ name: `Race ${i}`, access: AccessLevel.FULL });
      let deleted = false;
      let stop = false;
      // Three callers per replica, verifying without pause: cold misses (argon2 in flight), cache
      // hits and kept answers on every replica while the delete commits, evicts and confirms.
      const callers = verifiers.flatMap((verifier, n) =>
        [0, 1, 2].map(async () => {
          while (!stop) {
            const startedAfterDelete = deleted;
            const r = await verifier.verifyApiKey({ key: secret });
            if (startedAfterDelete && r.status !== VerificationStatus.REVOKED) wrong.push(`race ${i}, replica ${n}, during: ${status(r.status)}`);
          }
        }),
      );
      await sleep(i % 6); // the delete lands at a different point of the first misses each time
      await managers[(i + 1) % 3]!.deleteApiKey({ id: apiKey!.id });
      deleted = true;
      await sleep(20);
      stop = true;
      await Promise.all(callers);
      for (const [n, verifier] of verifiers.entries()) {
        for (let again = 0; again < 2; again++) {
          const r = await verifier.verifyApiKey({ key: secret });
          if (r.status !== VerificationStatus.REVOKED) wrong.push(`race ${i}, replica ${n}, after: ${status(r.status)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expectEveryChangeConfirmed();
  }, 120_000);
});
