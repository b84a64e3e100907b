// Postgres stopped under a running server: every call that needs it answers UNAVAILABLE (HTTP 503
// on the HTTP port) saying that the database is unreachable, so that clients retry; the log says
// so once when the outage starts and once when it ends, with the count of calls it failed; calls
// succeed again once Postgres is back; background work and the replica listener do not add a line
// per tick or attempt either. And a transaction whose connection is terminated fails with
// its own error, not with the ROLLBACK's, and the process goes on.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { createDatabase } from "../server/db/database.js";
import { createTestDatabase } from "./support/database.js";
import { startPostgresCluster, type PostgresCluster } from "./support/postgres-cluster.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const run = promisify(execFile);
let cluster: PostgresCluster;
let server: TestServer;
beforeAll(async () => {
  cluster = await startPostgresCluster();
  server = await startTestServer({ DATABASE_URL: cluster.url });
}, 120_000);
afterAll(async () => {
  await server?.stop();
  await cluster?.destroy();
});

// @grpc/grpc-js with our .proto files, as a service in another language would call us.
const definition = protoLoader.loadSync(["apikeys/v1/api_key_service.proto"], { includeDirs: ["proto"], enums: String, longs: String, defaults: true });
const { ApiKeyService } = (grpc.loadPackageDefinition(definition) as unknown as { apikeys: { v1: { ApiKeyService: grpc.ServiceClientConstructor } } }).apikeys.v1;
function grpcCall(method: string, request: object, token: string): Promise<{ code: grpc.status; details: string }> {
  return new Promise((resolve) => {
    const client = new ApiKeyService(server.grpcAddress, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    (client as unknown as Record<string, Function>)[method]!.call(client, request, metadata, (err: grpc.ServiceError | null) => {
      client.close();
      resolve({ code: err ? err.code : grpc.status.OK, details: err?.details ?? "" });
    });
  });
}
// curl with Connect JSON on the HTTP port: the status and the body.
async function curl(method: string, body: object, token: string): Promise<{ status: number; body: string }> {
  const { stdout } = await run("curl", [
    "-sS", "-w", "\n%{http_code}", "-H", "content-type: application/json", "-H", `authorization: Bearer ${token}`,
    "-d", JSON.stringify(body), `${server.httpUrl}/apikeys.v1.ApiKeyService/${method}`,
  ]);
  const at = stdout.lastIndexOf("\n");
  return { status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) };
}

describe("while Postgres is down", () => {
  it("calls on both ports answer UNAVAILABLE, the outage is logged once, and calls succeed once it is back", async () => {
    const { principals } = server;
    const { apiKey, secret } = await server.apiKeys(principals.owner).createApiKey({ name: "Through an outage", access: AccessLevel.FULL });
    expect((await grpcCall("verifyApiKey", { key: secret }, principals.service)).code).toBe(grpc.status.OK);
    const logged = server.logs.length;
    await cluster.stop();
    try {
      const calls = 3;
      for (let i = 0; i < calls; i++) {
        for (const [method, request, token] of [
          ["verifyApiKey", { key: secret }, principals.service],
          ["getApiKey", { id: apiKey!.id }, principals.owner],
          ["createApiKey", { name: "Not now", access: "ACCESS_LEVEL_FULL" }, principals.owner],
        ] as const) {
          const answer = await grpcCall(method, request, token);
          expect(answer, method).toEqual({ code: grpc.status.UNAVAILABLE, details: "the database is unreachable; retry shortly" });
        }
        for (const [method, body, token] of [
          ["VerifyApiKey", { key: secret }, principals.service],
          ["ListApiKeys", {}, principals.owner],
          ["CreateApiKey", { name: "Not now", access: "ACCESS_LEVEL_FULL" }, principals.owner],
        ] as const) {
          const answer = await curl(method, body, token);
          expect(answer.status, method).toBe(503);
          expect(JSON.parse(answer.body), method).toEqual({ code: "unavailable", message: "the database is unreachable; retry shortly" });
        }
      }
      const lines = server.logs.slice(logged);
      expect(lines.filter((l) => l.includes('"msg":"database unreachable'))).toHaveLength(1);
      expect(lines.filter((l) => l.includes('"level":"error"'))).toEqual([]);
      // Nor a line per tick of background work (last-used flushes and legacy hint reloads run
      // every 100 ms here) or per reconnection attempt: each warning at most once.
      const warnings = lines.filter((l) => l.includes('"level":"warn"')).map((l) => (JSON.parse(l) as { msg: string }).msg);
      expect(warnings).toEqual([...new Set(warnings)]);
    } finally {
      await cluster.start();
    }
    // Back on its own: the listener reconnects, the pool makes new connections.
    await expect.poll(async () => (await grpcCall("verifyApiKey", { key: secret }, principals.service)).code, { timeout: 60_000, interval: 200 }).toBe(grpc.status.OK);
    expect((await curl("CreateApiKey", { name: "After the outage", access: "ACCESS_LEVEL_FULL" }, principals.owner)).status).toBe(200);
    await expect.poll(() => server.logs.filter((l) => l.includes('"msg":"database reachable again"')), { timeout: 30_000 }).toHaveLength(1);
    const end = JSON.parse(server.logs.find((l) => l.includes('"msg":"database reachable again"'))!) as { since: string; until: string; failedCalls: number };
    expect(end.failedCalls).toBeGreaterThanOrEqual(18);
    expect(Date.parse(end.until)).toBeGreaterThan(Date.parse(end.since));
    expect(server.logs.filter((l) => l.includes('"msg":"database unreachable'))).toHaveLength(1);
  }, 180_000);
});

describe("a transaction whose connection is terminated", () => {
  it("fails with its own error, not the ROLLBACK's, and the process keeps running", async () => {
    const database = await createTestDatabase();
    const db = createDatabase(database.url, 1);
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      const failed = await db
        .transaction()
        .execute(async (tx) => {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(tx);
          // The server ends this session (as a restart does) while the transaction holds it
          // between statements: pg emits 'error' on a client that the pool has handed out.
          await admin.query("select pg_terminate_backend($1)", [rows[0]!.pid]);
          await expect.poll(async () => (await admin.query("select 1 from pg_stat_activity where pid = $1", [rows[0]!.pid])).rowCount).toBe(0);
          throw new Error("why the transaction failed");
        })
        .catch((err: unknown) => err as Error);
      expect(failed.message).toBe("why the transaction failed");
      // The pool dropped the dead connection and makes a new one.
      expect((await sql<{ one: number }>`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }]);
    } finally {
      await admin.end();
      await db.destroy();
      await database.drop();
    }
  });
});
