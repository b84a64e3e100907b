// `apikeys serve` as a newcomer runs it: no DATABASE_URL starts the embedded Postgres, whose data
// survives a restart. Signals reach the server itself (it runs as built JavaScript under node): the
// first drains, a later one stops at once, and either way the embedded Postgres is stopped; a
// cluster left running by a killed server is taken over, never silently reused; a busy port is
// named with the variable that moves it.
import { chmod, mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { ApiKeyService } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { DUPLICATE_MS } from "../server/stop-signals.js";
import { childrenOf, isRunning, postmasterPid, runServeToExit, startServeProcess } from "./support/serve-process.js";
import { TEST_ARGON2_ENV } from "./support/test-server.js";

const exec = promisify(execFile);
// Starting a server (and its Postgres) twice on a machine busy with other tests takes a while.
const SLOW = 240_000;
let root: string;
let dataDir: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "apikeys-serve-"));
  await chmod(root, 0o755); // as root, the postgres user must reach the cluster folder
  dataDir = path.join(root, "data");
});
afterAll(() => rm(root, { recursive: true, force: true }));

const env = (dir = dataDir) => ({ APIKEYS_DATA_DIR: dir, DATABASE_URL: "", ...TEST_ARGON2_ENV });
const cli = async (args: string[], dir = dataDir) => (await exec("bin/apikeys", args, { env: { ...process.env, ...env(dir) } })).stdout.trim();
const client = (port: number, token: string) =>
  createClient(
    ApiKeyService,
    createConnectTransport({
      baseUrl: `http://127.0.0.1:${port}`,
      httpVersion: "1.1",
      interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))],
    }),
  );

/** The cluster in `dir` has stopped: postgres removed its postmaster.pid and `pid` is gone. */
async function expectPostgresStopped(dir: string, pid: number): Promise<void> {
  expect(postmasterPid(dir)).toBeUndefined();
  await vi.waitFor(() => expect(isRunning(pid)).toBe(false), { timeout: 30_000, interval: 100 });
}

/**
 * A CreateApiKey whose body is still arriving, so it is in flight by construction: the server
 * answers "100 Continue" once it has parsed the headers, and from then on the call is its own.
 */
async function callInFlight(port: number, token: string) {
  const body = JSON.stringify({ name: "In flight", access: "ACCESS_LEVEL_FULL" });
  let req!: http.ClientRequest;
  let headersRead!: () => void;
  const started = new Promise<void>((resolve) => (headersRead = resolve));
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req = http.request(`http://127.0.0.1:${port}/apikeys.v1.ApiKeyService/CreateApiKey`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), authorization: `Bearer ${token}`, expect: "100-continue" },
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
  });
  await started;
  return { response, finish: () => req.end(body.slice(10)) };
}

describe("apikeys serve on the embedded Postgres", () => {
  it("says where its data lives, keeps it across a restart, and on SIGTERM stops cleanly with its Postgres", async () => {
    const first = await startServeProcess(env());
    expect(first.output()).toContain("DATABASE_URL is not set: using the embedded Postgres");
    expect(first.output()).toContain(`"dataDir":"${path.join(dataDir, "postgres")}"`);
    const postgres = postmasterPid(dataDir)!;
    // The CLI joins the running server's embedded Postgres.
    const token = await cli(["bootstrap", "--workspace", "Acme", "--owner", "ada"]);
    const created = await client(first.httpPort, token).createApiKey({ name: "Survives restarts", access: AccessLevel.FULL });
    expect(await first.stop()).toBe(0);
    expect(first.output()).toContain('"msg":"stopped"');
    await expectPostgresStopped(dataDir, postgres);

    const second = await startServeProcess(env());
    try {
      expect(second.output()).not.toContain("earlier apikeys run");
      const { apiKeys } = await client(second.httpPort, token).listApiKeys({});
      expect(apiKeys.map((k) => k.id)).toEqual([created.apiKey!.id]);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, SLOW);

  it("is node running the built bundle, with no loader in between: the process bin/apikeys starts is the server", async () => {
    const server = await startServeProcess(env());
    try {
      const argv = readFileSync(`/proc/${server.child.pid}/cmdline`, "utf8").split("\0").filter(Boolean);
      expect(path.basename(argv[0]!)).toBe("node");
      expect(argv.slice(1)).toEqual([path.resolve("dist/apikeys.js"), "serve"]);
      // Its only child is the embedded Postgres.
      expect(childrenOf(server.child.pid!)).toEqual([postmasterPid(dataDir)]);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, SLOW);

  it("started at the same moment as a CLI command on a fresh folder, both share one cluster", async () => {
    const fresh = path.join(root, "race");
    const [server, token] = await Promise.all([startServeProcess(env(fresh)), cli(["bootstrap", "--workspace", "Initech", "--owner", "peter"], fresh)]);
    try {
      const created = await client(server.httpPort, token).createApiKey({ name: "Raced", access: AccessLevel.FULL });
      expect(created.apiKey?.name).toBe("Raced");
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, SLOW);
});

describe("stopping apikeys serve", () => {
  it("on Ctrl-C (SIGINT), an in-flight call still gets its answer, then the server and its Postgres stop", async () => {
    const server = await startServeProcess(env());
    const postgres = postmasterPid(dataDir)!;
    const token = await cli(["workspaces", "add", "--name", "Globex", "--owner", "oscar"]);
    const call = await callInFlight(server.httpPort, token);
    const stopped = server.stop("SIGINT");
    await server.waitFor("shutting down: finishing in-flight calls");
    call.finish();
    const res = await call.response;
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).secret).toMatch(/^ak_/);
    expect(await stopped).toBe(0);
    expect(server.output()).toContain('"msg":"embedded Postgres stopped"');
    expect(server.output()).toContain('"msg":"stopped"');
    await expectPostgresStopped(dataDir, postgres);
  }, SLOW);

  it("a second signal stops at once: the in-flight call is cut off, the exit code names the signal, and Postgres is stopped", async () => {
    const server = await startServeProcess(env());
    const postgres = postmasterPid(dataDir)!;
    const token = await cli(["workspaces", "add", "--name", "Hooli", "--owner", "gavin"]);
    const call = await callInFlight(server.httpPort, token);
    void call.response.catch(() => {}); // cut off, as asked
    server.child.kill("SIGTERM");
    await server.waitFor("shutting down: finishing in-flight calls");
    // Later than a copy of the first signal could be (see stop-signals.ts), as a person's second Ctrl-C is.
    await new Promise((r) => setTimeout(r, DUPLICATE_MS + 500));
    // A drain would end with 0 (the call cut off after 10 s); only the forced stop exits with 130.
    expect(await server.stop("SIGINT")).toBe(130);
    expect(server.output()).toContain('"msg":"stopping at once: in-flight calls are cut off"');
    expect(server.output()).toContain('"msg":"embedded Postgres stopped"');
    expect(server.output()).not.toContain('"msg":"stopped"');
    await expect(call.response).rejects.toThrow(/socket hang up|ECONNRESET/);
    await expectPostgresStopped(dataDir, postgres);
  }, SLOW);

  it("under npm start, one Ctrl-C (the terminal's SIGINT to the group, and npm's copy) drains", async () => {
    const fresh = path.join(root, "npm");
    const server = await startServeProcess(env(fresh), { command: "npm", args: ["start"], detached: true });
    const postgres = postmasterPid(fresh)!;
    process.kill(-server.child.pid!, "SIGINT"); // what a terminal does on Ctrl-C
    expect(await server.exited).toBe(0);
    expect(server.output()).toContain('"msg":"stopped"');
    expect(server.output()).not.toContain("stopping at once");
    await expectPostgresStopped(fresh, postgres);
  }, SLOW);
});

describe("a cluster left behind", () => {
  it("left running by a killed server is said to be found, stopped, and started afresh with its data", async () => {
    const dir = path.join(root, "leftover");
    const killed = await startServeProcess(env(dir));
    const token = await cli(["bootstrap", "--workspace", "Pied Piper", "--owner", "richard"], dir);
    const created = await client(killed.httpPort, token).createApiKey({ name: "Outlives a kill", access: AccessLevel.FULL });
    const leftover = postmasterPid(dir)!;
    expect(await killed.stop("SIGKILL")).toBeNull();
    expect(isRunning(leftover)).toBe(true); // SIGKILL runs no exit hook: the cluster is orphaned

    const next = await startServeProcess(env(dir));
    try {
      const found = next.output().split("\n").filter((line) => line.includes("earlier apikeys run still running"));
      expect(found).toHaveLength(1);
      expect(JSON.parse(found[0]!)).toMatchObject({ level: "warn", pid: leftover });
      expect(isRunning(leftover)).toBe(false);
      expect(postmasterPid(dir)).not.toBe(leftover);
      const { apiKeys } = await client(next.httpPort, token).listApiKeys({});
      expect(apiKeys.map((k) => k.id)).toEqual([created.apiKey!.id]);
    } finally {
      expect(await next.stop()).toBe(0);
    }
  }, SLOW);

  it("whose postmaster died too (a stale postmaster.pid) is said to be recovered", async () => {
    const dir = path.join(root, "stale");
    const killed = await startServeProcess(env(dir));
    const postgres = postmasterPid(dir)!;
    const backends = childrenOf(postgres);
    expect(await killed.stop("SIGKILL")).toBeNull();
    process.kill(postgres, "SIGKILL");
    // Its backends notice their postmaster's death and exit; until then the cluster cannot restart.
    await vi.waitFor(() => expect([postgres, ...backends].filter(isRunning)).toEqual([]), { timeout: 30_000, interval: 100 });
    expect(postmasterPid(dir)).toBe(postgres);

    const next = await startServeProcess(env(dir));
    try {
      const found = next.output().split("\n").filter((line) => line.includes("did not stop cleanly last time"));
      expect(found).toHaveLength(1);
      expect(JSON.parse(found[0]!)).toMatchObject({ level: "warn", pid: postgres });
    } finally {
      expect(await next.stop()).toBe(0);
    }
  }, SLOW);
});

describe("a busy port", () => {
  const hold = () =>
    new Promise<Server>((resolve) => {
      const server = createServer();
      server.listen(0, "127.0.0.1", () => resolve(server));
    });
  const portOf = (server: Server) => (server.address() as { port: number }).port;

  it("the gRPC port of a running server: a second serve names it and APIKEYS_GRPC_PORT, exits 1, and the first keeps serving", async () => {
    const first = await startServeProcess(env());
    try {
      const second = await runServeToExit({ ...env(), APIKEYS_GRPC_PORT: String(first.grpcPort) });
      expect(second.code).toBe(1);
      expect(second.output).toContain(`apikeys: the gRPC port 127.0.0.1:${first.grpcPort} is already in use`);
      expect(second.output).toContain("set APIKEYS_GRPC_PORT to a free port");
      expect(second.output).not.toContain("No address added");
      expect(second.output).not.toMatch(/^\s+at /m); // no stack trace
      // It joined the first server's cluster, which it must leave running.
      const token = await cli(["services", "add", "--name", "still-up"]);
      expect((await client(first.httpPort, token).listScopes({})).scopes.length).toBeGreaterThan(0);
    } finally {
      expect(await first.stop()).toBe(0);
    }
  }, SLOW);

  it("the HTTP port taken by another program: names it and APIKEYS_HTTP_PORT, exits 1, and stops the Postgres it started", async () => {
    const dir = path.join(root, "busy");
    const holder = await hold();
    try {
      const run = await runServeToExit({ ...env(dir), APIKEYS_HTTP_PORT: String(portOf(holder)) });
      expect(run.code).toBe(1);
      expect(run.output).toContain(`apikeys: the HTTP port 127.0.0.1:${portOf(holder)} is already in use`);
      expect(run.output).toContain("set APIKEYS_HTTP_PORT to a free port");
      expect(run.output).not.toMatch(/^\s+at /m);
      expect(run.output).toContain('"msg":"embedded Postgres stopped"');
      expect(postmasterPid(dir)).toBeUndefined();
    } finally {
      holder.close();
    }
  }, SLOW);
});
