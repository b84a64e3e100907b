// A real server for one test file: a fresh migrated database, both listeners on random ports,
// the principals of a small deployment, and its log lines kept for inspection.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { sql } from "kysely";
import { ApiKeyService } from "../../contract/gen/apikeys/v1/api_key_service_pb.js";
import { SupportService } from "../../contract/gen/apikeys/v1/support_service_pb.js";
import { startApp, type App } from "../../server/app.js";
import { loadConfig, type Config } from "../../server/config.js";
import { createHasher } from "../../server/hashing.js";
import { createLogger } from "../../server/logger.js";
import type { Tracing } from "../../server/tracing/tracing.js";
import { addPrincipal, createWorkspaceWithOwner } from "../../server/principal/principal.admin.js";
import { createTestDatabase } from "./database.js";

/** Every kind of caller the authorization rules distinguish, with a valid token each. */
export interface Principals {
  readonly workspaceId: string;
  readonly otherWorkspaceId: string;
  readonly owner: string;
  readonly admin: string;
  readonly member: string;
  /** A verifying service allowed for every workspace. */
  readonly service: string;
  readonly support: string;
  /** Owner of the other workspace. */
  readonly otherOwner: string;
}

export type Listener = "http" | "grpc";

export interface TestServer {
  readonly app: App;
  readonly config: Config;
  readonly principals: Principals;
  /** Every log line the server wrote. */
  readonly logs: string[];
  readonly httpUrl: string;
  readonly grpcAddress: string;
  /**
   * Clients for a token (no header when undefined): Connect JSON over HTTP/1.1 on the HTTP port,
   * or gRPC on the gRPC port (grpc-js) with connect-node's gRPC transport.
   */
  apiKeys(token: string | undefined, listener?: Listener): Client<typeof ApiKeyService>;
  support(token: string | undefined, listener?: Listener): Client<typeof SupportService>;
  transport(token: string | undefined, listener?: Listener): Transport;
  /**
   * Runs `bin/apikeys` on this server's database, as an operator would, and resolves once this
   * server has the change it made (the CLI does not wait for running servers); resolves with what it printed.
   */
  operate(...args: string[]): Promise<{ stdout: string; stderr: string }>;
  /** Stops the server as a deploy does (gracefully), keeping its database; `restart` brings it back. */
  halt(): Promise<void>;
  /** Starts the server again (halting it first if it runs) on the same ports and database. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

// Cheap argon2 keeps the suite fast; the default (OWASP) cost has its own test.
export const TEST_ARGON2_ENV = { APIKEYS_ARGON2_MEMORY_KIB: "1024", APIKEYS_ARGON2_ITERATIONS: "1", APIKEYS_LEGACY_ARGON2_MEMORY_KIB: "1024", APIKEYS_LEGACY_ARGON2_ITERATIONS: "1" };

/**
 * Starts a server on a fresh database; `env` overrides configuration. A DATABASE_URL in `env` is
 * used instead of a fresh database (a cluster of the test's own, see postgres-cluster.ts). With
 * `options.tracing`, its calls make spans there (see test/traces.test.ts).
 */
export async function startTestServer(env: Record<string, string> = {}, options: { tracing?: Tracing } = {}): Promise<TestServer> {
  const database = env.DATABASE_URL ? { url: env.DATABASE_URL, drop: async () => {} } : await createTestDatabase();
  const config = loadConfig({
    DATABASE_URL: database.url,
    APIKEYS_GRPC_PORT: "0",
    APIKEYS_HTTP_PORT: "0",
    APIKEYS_LOG_LEVEL: "debug",
    APIKEYS_LAST_USED_FLUSH_MS: "100",
    APIKEYS_LEGACY_REFRESH_MS: "100",
    ...TEST_ARGON2_ENV,
    ...env,
  });
  const logs: string[] = [];
  const log = createLogger("debug", {}, (line) => void logs.push(line));
  let app = await startApp(config, log, options.tracing);
  const hasher = createHasher(config.argon2);
  const a = await createWorkspaceWithOwner(app.db, hasher, { name: "Acme", ownerName: "Olivia Owner" });
  const workspaceId = a.workspaceId!;
  const b = await createWorkspaceWithOwner(app.db, hasher, { name: "Globex", ownerName: "Oscar Other" });
  const principals: Principals = {
    workspaceId,
    otherWorkspaceId: b.workspaceId!,
    owner: a.token,
    admin: (await addPrincipal(app.db, hasher, { kind: "member", role: "admin", name: "Ada Admin", workspaceId })).token,
    member: (await addPrincipal(app.db, hasher, { kind: "member", role: "member", name: "Max Member", workspaceId })).token,
    service: (await addPrincipal(app.db, hasher, { kind: "service", name: "api-gateway" })).token,
    support: (await addPrincipal(app.db, hasher, { kind: "support", name: "Sam Support" })).token,
    otherOwner: b.token,
  };
  const httpUrl = `http://127.0.0.1:${app.httpPort}`;
  const transport = (token: string | undefined, listener: Listener = "http") => {
    const auth: Interceptor = (next) => (req) => {
      if (token !== undefined) req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    };
    return listener === "http"
      ? createConnectTransport({ baseUrl: httpUrl, httpVersion: "1.1", interceptors: [auth] })
      : createGrpcTransport({ baseUrl: `http://127.0.0.1:${app.grpcPort}`, interceptors: [auth] });
  };
  return {
    get app() {
      return app;
    },
    config,
    principals,
    logs,
    httpUrl,
    grpcAddress: `127.0.0.1:${app.grpcPort}`,
    apiKeys: (token, listener) => createClient(ApiKeyService, transport(token, listener)),
    support: (token, listener) => createClient(SupportService, transport(token, listener)),
    transport,
    operate: async (...args) => {
      const env = { ...process.env, DATABASE_URL: app.databaseUrl, ...TEST_ARGON2_ENV, APIKEYS_LOG_LEVEL: "warn" };
      const printed = await promisify(execFile)("bin/apikeys", args, { env });
      const { rows } = await sql<{ id: string }>`select max(id)::text as id from changes`.execute(app.db);
      await app.replica.awaitConfirmation(rows[0]!.id);
      return printed;
    },
    halt: () => app.close(),
    restart: async () => {
      // Closing twice is harmless: a closed app has nothing left to close.
      await app.close();
      app = await startApp({ ...config, databaseUrl: app.databaseUrl, grpcPort: app.grpcPort, httpPort: app.httpPort }, log, options.tracing);
    },
    stop: async () => {
      await app.close();
      await database.drop();
    },
  };
}

const LISTENER_DOWN = "replica listener down";

/**
 * Runs `attempt` until one run of it finds the replica listening from start to end, and returns
 * that run's result. On a busy machine a heartbeat can be late, and the replica then turns its
 * caches off and starts them empty (fail closed, as it must): what a test asserts about answers
 * from memory holds only while they are on. A run the listener was down in is discarded, even if
 * it failed; after `tries` such runs the test fails, saying so.
 */
export async function whileListening<T>(server: TestServer, attempt: () => Promise<T>, tries = 3): Promise<T> {
  const downs = () => server.logs.filter((line) => line.includes(LISTENER_DOWN)).length;
  for (let run = 1; ; run++) {
    const before = downs();
    try {
      const result = await attempt();
      if (downs() === before) return result;
    } catch (error) {
      if (downs() === before) throw error;
    }
    if (run >= tries) throw new Error(`the replica's listener went down during each of ${tries} runs; the machine is too busy for this test`);
    await waitUntil(() => server.app.caches.keys.stats().enabled, 30_000);
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
