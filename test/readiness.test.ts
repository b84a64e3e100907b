// Readiness and liveness as a load balancer or Kubernetes sees them: the standard gRPC health
// service (Check and Watch, from grpc-js with grpc-health-check's own definition) and GET /readyz
// and /livez on the HTTP port (curl). Postgres stopped under the running server, and the replica
// listener kept down while the database answers, each turn readiness off until they are back;
// liveness stays up throughout.
import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReadiness, type ReadinessState } from "../server/readiness.js";
import { startPostgresCluster, type PostgresCluster } from "./support/postgres-cluster.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const run = promisify(execFile);
let cluster: PostgresCluster;
let server: TestServer;
/** grpc-js's generic client for grpc.health.v1.Health, as its methods are named there. */
interface HealthClient extends grpc.Client {
  Check(request: { service: string }, callback: (err: grpc.ServiceError | null, answer: { status: string }) => void): void;
  Watch(request: { service: string }): grpc.ClientReadableStream<{ status: string }>;
}
let health: HealthClient;
beforeAll(async () => {
  cluster = await startPostgresCluster();
  // No frequent background reads: an idle server must learn of an outage from its listener alone.
  server = await startTestServer({ DATABASE_URL: cluster.url, APIKEYS_LEGACY_REFRESH_MS: "600000" });
  const Health = grpc.makeGenericClientConstructor(healthService, "Health");
  health = new Health(server.grpcAddress, grpc.credentials.createInsecure()) as unknown as HealthClient;
}, 120_000);
afterAll(async () => {
  health?.close();
  await server?.stop();
  await cluster?.destroy();
});

const SERVICES = ["", "apikeys.v1.ApiKeyService", "apikeys.v1.SupportService"];

function check(service: string): Promise<string> {
  return new Promise((resolve, reject) => {
    health.Check({ service }, (err, answer) => (err ? reject(err) : resolve(answer.status)));
  });
}

/** Every status a Watch on `service` has received so far. */
function watch(service: string): { statuses: string[]; cancel(): void } {
  const statuses: string[] = [];
  const call = health.Watch({ service });
  call.on("data", (answer) => statuses.push(answer.status));
  call.on("error", () => {}); // cancelled at the end
  return { statuses, cancel: () => call.cancel() };
}

async function curl(path: string): Promise<{ status: number; body: unknown }> {
  const { stdout } = await run("curl", ["-sS", "-w", "\n%{http_code}", `${server.httpUrl}${path}`]);
  const at = stdout.lastIndexOf("\n");
  return { status: Number(stdout.slice(at + 1)), body: JSON.parse(stdout.slice(0, at)) };
}

/** Polls `probe` until it returns `expected` (a busy machine is slow, so the bound is generous). */
async function until<T>(what: string, probe: () => Promise<T>, expected: T): Promise<void> {
  const deadline = performance.now() + 90_000;
  let last: T | undefined;
  while (performance.now() < deadline) {
    last = await probe();
    try {
      expect(last).toEqual(expected);
      return;
    } catch {
      await sleep(100);
    }
  }
  expect(last, what).toEqual(expected);
}

const SERVING = { status: 200, body: { status: "serving", database: "reachable", replicaListener: "listening" } };
const ALIVE = { status: 200, body: { status: "alive" } };

/** Serving at first, not serving at some point, and serving at the end (a late heartbeat may add flips). */
function expectFlipped(statuses: string[]): void {
  expect(statuses[0]).toBe("SERVING");
  expect(statuses).toContain("NOT_SERVING");
  expect(statuses.at(-1)).toBe("SERVING");
}

/** Waits until /readyz and every service's Check say serving in one round. */
async function expectServing(): Promise<void> {
  const probe = async () => [await curl("/readyz"), ...(await Promise.all(SERVICES.map(check)))];
  await until("/readyz and Check", probe, [SERVING, ...SERVICES.map(() => "SERVING")]);
}

describe("readiness", { timeout: 300_000 }, () => {
  it("when Postgres stops, then the health service and /readyz answer not serving, /livez stays up, and both serve again once it is back", async () => {
    await expectServing();
    expect(await curl("/livez")).toEqual(ALIVE);
    const watched = watch("");
    try {
      await cluster.stop();
      try {
        await until(
          "/readyz while Postgres is down",
          () => curl("/readyz"),
          { status: 503, body: { status: "not_serving", database: "unreachable", replicaListener: "down" } },
        );
        await until("Check while Postgres is down", () => Promise.all(SERVICES.map(check)), SERVICES.map(() => "NOT_SERVING"));
        expect(await curl("/livez")).toEqual(ALIVE);
      } finally {
        await cluster.start();
      }
      await expectServing();
      expect(await curl("/livez")).toEqual(ALIVE);
      await until("Watch", async () => watched.statuses.at(-1), "SERVING");
      expectFlipped(watched.statuses);
    } finally {
      watched.cancel();
    }
  });

  it("when the replica listener is down while the database answers, then readiness is off until it listens again", async () => {
    await expectServing();
    const watched = watch("apikeys.v1.ApiKeyService");
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    const role = new URL(cluster.url).username;
    try {
      // The listener cannot reconnect while its role may not log in; connections already open go on.
      await admin.query(`alter role ${role} nologin`);
      const { rows } = await admin.query<{ killed: boolean }>(
        "select pg_terminate_backend(pid) as killed from pg_stat_activity where application_name = $1",
        [`apikeys-listener-${server.app.replica.id}`],
      );
      expect(rows).toEqual([{ killed: true }]);
      await until(
        "/readyz while the listener is down",
        () => curl("/readyz"),
        { status: 503, body: { status: "not_serving", database: "reachable", replicaListener: "down" } },
      );
      expect(await check("")).toBe("NOT_SERVING");
      expect(await curl("/livez")).toEqual(ALIVE);
    } finally {
      await admin.query(`alter role ${role} login`);
      await admin.end();
    }
    try {
      await expectServing();
      await until("Watch", async () => watched.statuses.at(-1), "SERVING");
      expectFlipped(watched.statuses);
    } finally {
      watched.cancel();
    }
  });

  it("answers only GET and HEAD, with a body that names no secret", async () => {
    const { stdout } = await run("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code} %header{allow}", "-X", "POST", `${server.httpUrl}/readyz`]);
    expect(stdout).toBe("405 GET, HEAD");
    const head = await run("curl", ["-sS", "-I", `${server.httpUrl}/readyz`]);
    expect(head.stdout).toMatch(/^HTTP\/1\.1 200/);
    const { body } = await curl("/readyz");
    expect(JSON.stringify(body)).not.toContain(new URL(cluster.url).password);
  });
});

describe("createReadiness", () => {
  it("serves only while the listener listens and the database is reachable, tells each change of status once, and never again after stop", () => {
    const readiness = createReadiness();
    const told: ReadinessState[] = [];
    readiness.onChange((state) => told.push(state));
    expect(readiness.state()).toEqual({ status: "not_serving", database: "reachable", replicaListener: "down" });
    readiness.setListening(true);
    readiness.setDatabaseReachable(false);
    readiness.setListening(false); // still not serving: not told again
    readiness.setListening(true);
    readiness.setDatabaseReachable(true);
    readiness.stop();
    readiness.setListening(true);
    expect(told).toEqual([
      { status: "serving", database: "reachable", replicaListener: "listening" },
      { status: "not_serving", database: "unreachable", replicaListener: "listening" },
      { status: "serving", database: "reachable", replicaListener: "listening" },
      { status: "not_serving", database: "reachable", replicaListener: "listening", server: "stopping" },
    ]);
  });
});
