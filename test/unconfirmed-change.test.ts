// A change whose confirmation by the replicas cannot be checked is not reported as confirmed:
// DeleteApiKey answers UNAVAILABLE saying that the key is deleted (it is) and that replicas may
// still accept it from their caches for a moment; RotateApiKey does too, unless the server minted
// the new secret, which only its answer can carry. The check fails for real: it waits on a locked
// `replicas` table, and its session is terminated, as a restart or an administrator would.
import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { mintToken } from "../contract/key-format.js";
import { lockTables } from "./support/database.js";
import { outcomeOf } from "./support/outcome.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

// The delete's check of which replicas confirmed it (Replica.awaitConfirmation's query).
const CHECK = `datname = current_database() and query like 'select "id" from "replicas"%' and wait_event_type = 'Lock'`;

/**
 * Runs `call` while its check of the replicas fails: the check waits for a lock on `replicas`, its
 * session is terminated (57P01), and a check tried again waits for the lock until the bound.
 * Resolves with the answer, or the error the call was answered with.
 */
async function whileTheCheckFails<T>(call: () => Promise<T>): Promise<T | ConnectError> {
  const admin = new pg.Client({ connectionString: server.app.databaseUrl });
  await admin.connect();
  const lock = await lockTables(server.app.databaseUrl, ["replicas"]);
  try {
    const answer = call().catch((err: unknown) => ConnectError.from(err));
    await expect.poll(async () => (await admin.query(`select 1 from pg_stat_activity where ${CHECK}`)).rowCount, { timeout: 20_000 }).toBe(1);
    await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where ${CHECK}`);
    return await answer;
  } finally {
    await lock.release();
    await admin.end();
  }
}

describe("DeleteApiKey", () => {
  it("when which replicas confirmed the deletion cannot be checked, then it answers UNAVAILABLE saying that the key is deleted", async () => {
    const owner = server.apiKeys(server.principals.owner);
    const service = server.apiKeys(server.principals.service);
    const { apiKey, secret } = await owner.createApiKey({ name: "Deleted unconfirmed", access: AccessLevel.FULL });
    const id = apiKey!.id;
    expect((await service.verifyApiKey({ key: secret })).valid).toBe(true);
    const answer = await whileTheCheckFails(() => owner.deleteApiKey({ id }));
    expect(answer).toBeInstanceOf(ConnectError);
    const error = answer as ConnectError;
    expect(error.code).toBe(Code.Unavailable);
    expect(error.rawMessage).toMatch(new RegExp(`^API key "${id}" is deleted, but whether every replica has applied it could not be checked`));
    expect(error.rawMessage).toContain("Do not repeat the change.");
    expect(server.logs.some((l) => l.includes('"msg":"could not check which replicas confirmed a change"'))).toBe(true);
    // It is deleted: gone from reads, refused by verification, and a second delete finds nothing.
    expect(await outcomeOf(owner.getApiKey({ id }))).toBe(Code.NotFound);
    await expect.poll(async () => (await service.verifyApiKey({ key: secret })).status, { timeout: 20_000 }).toBe(VerificationStatus.REVOKED);
    expect(await outcomeOf(owner.deleteApiKey({ id }))).toBe(Code.NotFound);
  }, 60_000);
});

describe("RotateApiKey", () => {
  it("when the check fails, a secret the server minted is still returned (it exists nowhere else) and verifies", async () => {
    const owner = server.apiKeys(server.principals.owner);
    const { apiKey } = await owner.createApiKey({ name: "Rotated unconfirmed", access: AccessLevel.FULL });
    const logged = server.logs.length;
    const answer = await whileTheCheckFails(() => owner.rotateApiKey({ id: apiKey!.id }));
    expect(answer).not.toBeInstanceOf(ConnectError);
    const { secret } = answer as Exclude<typeof answer, ConnectError>;
    expect(server.logs.slice(logged).some((l) => l.includes('"msg":"could not check which replicas confirmed a change"'))).toBe(true);
    expect((await server.apiKeys(server.principals.service).verifyApiKey({ key: secret })).valid).toBe(true);
  }, 60_000);

  it("when the check fails, a rotation to client-supplied key material answers UNAVAILABLE saying that it is done", async () => {
    const owner = server.apiKeys(server.principals.owner);
    const { apiKey } = await owner.createApiKey({ name: "Rotated to given material", access: AccessLevel.FULL });
    const material = mintToken(server.config.keyPrefix, apiKey!.id);
    const answer = await whileTheCheckFails(() => owner.rotateApiKey({ id: apiKey!.id, keyMaterial: material }));
    expect(answer).toBeInstanceOf(ConnectError);
    expect((answer as ConnectError).code).toBe(Code.Unavailable);
    expect((answer as ConnectError).rawMessage).toMatch(new RegExp(`^API key "${apiKey!.id}" is rotated, but`));
    expect((await server.apiKeys(server.principals.service).verifyApiKey({ key: material })).valid).toBe(true);
  }, 60_000);
});

describe("a locked replicas table", () => {
  it("when more writes than the pool has connections find `replicas` locked, each answers UNAVAILABLE saying it is done, and reads still answer at once", async () => {
    const owner = server.apiKeys(server.principals.owner);
    const { apiKey } = await owner.createApiKey({ name: "Renamed while locked", access: AccessLevel.FULL });
    const id = apiKey!.id;
    const admin = new pg.Client({ connectionString: server.app.databaseUrl });
    await admin.connect();
    const lock = await lockTables(server.app.databaseUrl, ["replicas"]);
    try {
      // The server's pool has 10 connections (createDatabase's default): a check left waiting on
      // the lock after its call was answered would keep one each.
      for (let round = 1; round <= 12; round++) {
        const answer = await owner.updateApiKey({ apiKey: { id, name: `Renamed ${round}` }, updateMask: { paths: ["name"] } }).catch((err: unknown) => ConnectError.from(err));
        expect(answer).toBeInstanceOf(ConnectError);
        expect((answer as ConnectError).code).toBe(Code.Unavailable);
        expect((answer as ConnectError).rawMessage).toMatch(new RegExp(`^API key "${id}" is updated, but whether every replica has applied it could not be checked`));
      }
      // Still locked: a read gets a connection at once instead of waiting 5 s for one and failing.
      const started = performance.now();
      expect((await owner.getApiKey({ id })).apiKey!.name).toBe("Renamed 12");
      expect(performance.now() - started).toBeLessThan(4000);
      // No check is left waiting on the lock (the listener's heartbeat, on its own connection, may be).
      expect((await admin.query(`select 1 from pg_stat_activity where ${CHECK}`)).rowCount).toBe(0);
    } finally {
      await lock.release();
      await admin.end();
    }
  }, 120_000);
});
