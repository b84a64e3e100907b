// `apikeys serve` as a newcomer runs it: no DATABASE_URL starts the embedded Postgres, whose data
// survives a restart; SIGTERM lets in-flight calls finish and stops cleanly.
import { chmod, mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { ApiKeyService } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { startServeProcess } from "./support/serve-process.js";
import { TEST_ARGON2_ENV } from "./support/test-server.js";

const exec = promisify(execFile);
let dataDir: string;
beforeAll(async () => {
  const root = await mkdtemp(path.join(tmpdir(), "apikeys-serve-"));
  await chmod(root, 0o755); // as root, the postgres user must reach the cluster folder
  dataDir = path.join(root, "data");
});
afterAll(() => rm(path.dirname(dataDir), { recursive: true, force: true }));

const env = () => ({ APIKEYS_DATA_DIR: dataDir, DATABASE_URL: "", ...TEST_ARGON2_ENV });
const client = (port: number, token: string) =>
  createClient(
    ApiKeyService,
    createConnectTransport({
      baseUrl: `http://127.0.0.1:${port}`,
      httpVersion: "1.1",
      interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))],
    }),
  );

describe("apikeys serve on the embedded Postgres", () => {
  it("says where its data lives, keeps it across a restart, and stops cleanly on SIGTERM", async () => {
    const first = await startServeProcess(env());
    expect(first.output()).toContain("DATABASE_URL is not set: using the embedded Postgres");
    expect(first.output()).toContain(`"dataDir":"${path.join(dataDir, "postgres")}"`);
    // The CLI joins the running server's embedded Postgres.
    const { stdout: token } = await exec("bin/apikeys", ["bootstrap", "--workspace", "Acme", "--owner", "ada"], { env: { ...process.env, ...env() } });
    const created = await client(first.httpPort, token.trim()).createApiKey({ name: "Survives restarts", access: AccessLevel.FULL });
    expect(await first.stop()).toBe(0);
    expect(first.output()).toContain('"msg":"stopped"');

    const second = await startServeProcess(env());
    try {
      const { apiKeys } = await client(second.httpPort, token.trim()).listApiKeys({});
      expect(apiKeys.map((k) => k.id)).toEqual([created.apiKey!.id]);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  });

  it("started at the same moment as a CLI command on a fresh folder, both share one cluster", async () => {
    const fresh = { ...env(), APIKEYS_DATA_DIR: path.join(path.dirname(dataDir), "race") };
    const [server, bootstrap] = await Promise.all([
      startServeProcess(fresh),
      exec("bin/apikeys", ["bootstrap", "--workspace", "Initech", "--owner", "peter"], { env: { ...process.env, ...fresh } }),
    ]);
    try {
      const created = await client(server.httpPort, bootstrap.stdout.trim()).createApiKey({ name: "Raced", access: AccessLevel.FULL });
      expect(created.apiKey?.name).toBe("Raced");
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it("on SIGTERM, an in-flight call still gets its answer", async () => {
    const server = await startServeProcess(env());
    const { stdout: token } = await exec("bin/apikeys", ["workspaces", "add", "--name", "Globex", "--owner", "oscar"], { env: { ...process.env, ...env() } });
    // A request whose body is still arriving when SIGTERM lands is in flight by construction. The
    // server answers "100 Continue" once it has parsed the headers: from then on the call is its.
    const body = JSON.stringify({ name: "In flight", access: "ACCESS_LEVEL_FULL" });
    let inFlight: http.ClientRequest | undefined;
    let headersRead!: () => void;
    const started = new Promise<void>((resolve) => (headersRead = resolve));
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`http://127.0.0.1:${server.httpPort}/apikeys.v1.ApiKeyService/CreateApiKey`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          authorization: `Bearer ${token.trim()}`,
          expect: "100-continue",
        },
      });
      req.on("continue", () => {
        req.write(body.slice(0, 10));
        headersRead();
      });
      req.on("response", (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on("error", reject);
      req.flushHeaders();
      inFlight = req;
    });
    await started;
    const stopped = server.stop();
    await server.waitFor("shutting down: finishing in-flight calls");
    inFlight!.end(body.slice(10));
    const res = await response;
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).secret).toMatch(/^ak_/);
    expect(await stopped).toBe(0);
  });
});
