// A write whose deadline passes changes nothing: a CreateApiKey answered DEADLINE_EXCEEDED used to
// store a key whose secret nobody ever saw. Work is not started once the deadline has passed, and
// a deadline that passes during the transaction rolls it back instead of committing.
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { CreateApiKeyRequestSchema } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { lockTables } from "./support/database.js";
import { rawGrpc } from "./support/raw-grpc.js";
import { startTestServer, type Listener, type TestServer } from "./support/test-server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

const keyCount = async () => Number((await sql<{ n: string }>`select count(*)::text as n from api_keys`.execute(server.app.db)).rows[0]!.n);
// Each call's log line is written when the server has finished with it, whatever the client saw.
const createLines = () => server.logs.filter((line) => line.includes('"rpc":"apikeys.v1.ApiKeyService/CreateApiKey"')).length;
const CREATE = "/apikeys.v1.ApiKeyService/CreateApiKey";

describe("CreateApiKey past its deadline", () => {
  const routes = [
    ["the gRPC port", () => `http://${server.grpcAddress}`, "application/grpc"],
    ["the HTTP port (gRPC)", () => server.httpUrl, "application/grpc"],
    ["the HTTP port (gRPC-Web)", () => server.httpUrl, "application/grpc-web+proto"],
  ] as const;

  it.each(routes)("with grpc-timeout: 1n on %s, answers DEADLINE_EXCEEDED and stores no key", async (_where, base, contentType) => {
    const before = await keyCount();
    const lines = createLines();
    const message = toBinary(CreateApiKeyRequestSchema, create(CreateApiKeyRequestSchema, { name: "Too late", access: AccessLevel.FULL }));
    const answer = await rawGrpc({
      url: `${base()}${CREATE}`,
      contentType,
      headers: [`authorization: Bearer ${server.principals.owner}`, "grpc-timeout: 1n"],
      message,
    });
    expect(answer.code, answer.raw).toBe(Code.DeadlineExceeded);
    await expect.poll(createLines, { timeout: 30_000 }).toBeGreaterThan(lines);
    expect(await keyCount()).toBe(before);
  });

  it.each(["grpc", "http"] as Listener[])("on the %s port, a deadline that passes during the transaction rolls it back", async (listener) => {
    const before = await keyCount();
    const lock = await lockTables(server.app.databaseUrl, ["api_keys"]);
    let lines: number;
    try {
      const call = server
        .apiKeys(server.principals.owner, listener)
        .createApiKey({ name: "Late commit", access: AccessLevel.FULL }, { timeoutMs: 5_000 })
        .then(() => undefined, (e: unknown) => ConnectError.from(e));
      // The insert waits for the lock: the call started in time, and its deadline passes meanwhile.
      await expect.poll(() => lock.waiting(), { timeout: 30_000 }).toBeGreaterThanOrEqual(1);
      // The server had the call by now, so its deadline (counted from its arrival) is past by then.
      const serverDeadline = Date.now() + 5_000;
      expect((await call)?.code).toBe(Code.DeadlineExceeded);
      await expect.poll(() => Date.now() > serverDeadline, { timeout: 30_000 }).toBe(true);
      lines = createLines();
    } finally {
      await lock.release();
    }
    await expect.poll(createLines, { timeout: 30_000 }).toBeGreaterThan(lines);
    expect(await keyCount()).toBe(before);
  });

  it("in time, a key is still created", async () => {
    const before = await keyCount();
    await server.apiKeys(server.principals.owner, "grpc").createApiKey({ name: "In time", access: AccessLevel.FULL }, { timeoutMs: 30_000 });
    expect(await keyCount()).toBe(before + 1);
  });
});
