// Prometheus metrics as an operator's Prometheus sees them: scraped with curl from the metrics
// port of a real server (its own Postgres cluster, so that the test can stop it), after real calls
// on both ports: grpc-js on the gRPC port (answers kept and sent again included), curl with Connect
// JSON (the lean unary path) and connect-node's gRPC-Web transport on the HTTP port. A second
// server with a slow argon2 pool takes a flood of wrong secrets. Then the names against
// Prometheus' conventions, every label against the secrets the test used, and the Grafana
// dashboard's every expression against the metrics the server exports.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { ApiKeyService, VerificationStatus, VerifyApiKeyRequestSchema, VerifyApiKeyResponseSchema } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { mintToken, parseToken } from "../contract/key-format.js";
import { ConfigError, loadConfig } from "../server/config.js";
import { RPC_DURATION_BUCKETS } from "../server/metrics/rpc-metrics.js";
import { startPostgresCluster, type PostgresCluster } from "./support/postgres-cluster.js";
import { metricNamesIn, parseExposition, sampleNames, type Exposition } from "./support/prometheus.js";
import { startTestServer, whileListening, type TestServer } from "./support/test-server.js";

const run = promisify(execFile);
const API = "apikeys.v1.ApiKeyService";
let cluster: PostgresCluster;
let server: TestServer;
/** Every secret and token this file used, and every key id: none may appear in a scrape. */
const secrets: string[] = [];
const keyIds: string[] = [];

beforeAll(async () => {
  cluster = await startPostgresCluster();
  server = await startTestServer({ DATABASE_URL: cluster.url, APIKEYS_METRICS_PORT: "0" });
  secrets.push(...Object.values(server.principals).filter((v) => v.startsWith("akp_")));
}, 120_000);
afterAll(async () => {
  await server?.stop();
  await cluster?.destroy();
});

/** GET with curl: the status, the content type and the body. */
async function curlGet(url: string, method = "GET"): Promise<{ status: number; type: string; body: string }> {
  const { stdout } = await run("curl", ["-sS", "-X", method, "-w", "\n%{http_code} %{content_type}", url]);
  const at = stdout.lastIndexOf("\n");
  const [status, ...type] = stdout.slice(at + 1).split(" ");
  return { status: Number(status), type: type.join(" "), body: stdout.slice(0, at) };
}

/** What the server's metrics port says now. */
async function scrape(of: TestServer = server): Promise<Exposition> {
  const answer = await curlGet(`http://127.0.0.1:${of.app.metricsPort}/metrics`);
  expect(answer.status).toBe(200);
  return parseExposition(answer.body);
}

/** Scrapes until `condition` holds (a busy machine is slow: the bound is generous). */
async function scrapeUntil(what: string, condition: (m: Exposition) => boolean, of: TestServer = server): Promise<Exposition> {
  const deadline = performance.now() + 90_000;
  for (;;) {
    const m = await scrape(of);
    if (condition(m)) return m;
    if (performance.now() > deadline) throw new Error(`metrics never showed ${what}`);
    await sleep(100);
  }
}

/** Connect JSON over HTTP/1.1 with curl; the HTTP status and the body. */
async function connectJson(method: string, body: object, token: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const { stdout } = await run("curl", [
    "-sS", "--http1.1", "-w", "\n%{http_code}",
    "-H", "content-type: application/json", "-H", `authorization: Bearer ${token}`,
    "--data", JSON.stringify(body),
    `${server.httpUrl}/${API}/${method}`,
  ]);
  const at = stdout.lastIndexOf("\n");
  return { status: Number(stdout.slice(at + 1)), body: JSON.parse(stdout.slice(0, at)) as Record<string, unknown> };
}

/** VerifyApiKey through a plain grpc-js client on the gRPC port: the status's name, or the gRPC code's. */
function grpcVerifier(of: TestServer, token = of.principals.service) {
  const client = new grpc.Client(of.grpcAddress, grpc.credentials.createInsecure());
  const verify = (key: string, requiredScopes: string[] = []) => {
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    return new Promise<string>((resolve) =>
      client.makeUnaryRequest(
        `/${API}/VerifyApiKey`,
        (m: { key: string; requiredScopes: string[] }) => Buffer.from(toBinary(VerifyApiKeyRequestSchema, create(VerifyApiKeyRequestSchema, m))),
        (b: Buffer) => fromBinary(VerifyApiKeyResponseSchema, b),
        { key, requiredScopes },
        metadata,
        (err, res) => resolve(err ? grpc.status[err.code] : VerificationStatus[res!.status]),
      ),
    );
  };
  return { verify, close: () => client.close() };
}

async function createKey(name: string, access = AccessLevel.CUSTOM, scopes = ["orders:read"]) {
  const created = await server.apiKeys(server.principals.owner).createApiKey({ name, access, scopes: access === AccessLevel.CUSTOM ? scopes : [] });
  secrets.push(created.secret);
  keyIds.push(created.apiKey!.id);
  return { id: created.apiKey!.id, secret: created.secret };
}

const calls = (labels: Record<string, string>) => (m: Exposition) => m.value("apikeys_rpc_calls_total", { service: API, ...labels });

describe("the metrics port", () => {
  it("serves GET /metrics in Prometheus' text format on its own port, and the HTTP port has no /metrics", async () => {
    const port = server.app.metricsPort!;
    expect(port).toBeGreaterThan(0);
    expect([server.app.httpPort, server.app.grpcPort]).not.toContain(port);
    const answer = await curlGet(`http://127.0.0.1:${port}/metrics`);
    expect(answer.status).toBe(200);
    expect(answer.type).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(answer.body).toContain("# TYPE apikeys_rpc_calls_total counter");

    expect((await curlGet(`${server.httpUrl}/metrics`)).status).toBe(404);
    expect((await curlGet(`http://127.0.0.1:${port}/`)).status).toBe(404);
    expect((await curlGet(`http://127.0.0.1:${port}/readyz`)).status).toBe(404);
    expect((await curlGet(`http://127.0.0.1:${port}/metrics`, "POST")).status).toBe(405);
  });

  it("is off unless APIKEYS_METRICS_PORT is set, which must be a port number", () => {
    expect(loadConfig({}).metricsPort).toBeUndefined();
    expect(loadConfig({ APIKEYS_METRICS_PORT: "" }).metricsPort).toBeUndefined();
    expect(loadConfig({ APIKEYS_METRICS_PORT: "9464" }).metricsPort).toBe(9464);
    expect(() => loadConfig({ APIKEYS_METRICS_PORT: "metrics" })).toThrow(ConfigError);
    expect(() => loadConfig({ APIKEYS_METRICS_PORT: "70000" })).toThrow(/APIKEYS_METRICS_PORT must be an integer from 0 to 65535/);
  });

  it("a taken metrics port stops the start with a message naming APIKEYS_METRICS_PORT", async () => {
    const taken = String(server.app.metricsPort);
    await expect(startTestServer({ APIKEYS_METRICS_PORT: taken })).rejects.toThrow(
      `the metrics port 127.0.0.1:${taken} is already in use (by another apikeys serve, or another program): set APIKEYS_METRICS_PORT to a free port`,
    );
  });
});

describe("calls", () => {
  it("counts calls on both ports by service, method, protocol and code, kept gRPC answers and the lean Connect path included, with their latency", async () => {
    const key = await createKey("Calls");
    const grpcJs = grpcVerifier(server);
    const webClient = createClient(ApiKeyService, createGrpcWebTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
    try {
      const before = await scrape();
      // The same call three times: decided once, then sent the kept answer twice.
      for (let i = 0; i < 3; i++) expect(await grpcJs.verify(key.secret, ["orders:read"])).toBe("VALID");
      for (let i = 0; i < 2; i++) expect((await connectJson("VerifyApiKey", { key: key.secret }, server.principals.service)).body.valid).toBe(true);
      const web = await webClient.verifyApiKey({ key: key.secret }, { headers: { authorization: `Bearer ${server.principals.service}` } });
      expect(web.valid).toBe(true);
      expect((await connectJson("ListApiKeys", {}, server.principals.member)).status).toBe(403);
      expect((await connectJson("CreateApiKey", { name: "", access: "ACCESS_LEVEL_FULL" }, server.principals.owner)).status).toBe(400);
      const after = await scrape();

      const delta = (labels: Record<string, string>) => calls(labels)(after) - calls(labels)(before);
      expect(delta({ method: "VerifyApiKey", protocol: "grpc", code: "OK" })).toBe(3);
      expect(delta({ method: "VerifyApiKey", protocol: "connect", code: "OK" })).toBe(2);
      expect(delta({ method: "VerifyApiKey", protocol: "grpc-web", code: "OK" })).toBe(1);
      expect(delta({ method: "ListApiKeys", protocol: "connect", code: "PermissionDenied" })).toBe(1);
      expect(delta({ method: "CreateApiKey", protocol: "connect", code: "InvalidArgument" })).toBe(1);

      // The latency histogram: one count per call, buckets cumulative up to +Inf, a positive sum.
      for (const [protocol, n] of [["grpc", 3], ["connect", 2], ["grpc-web", 1]] as const) {
        const labels = { service: API, method: "VerifyApiKey", protocol };
        const count = (m: Exposition) => m.value("apikeys_rpc_duration_seconds_count", labels);
        expect(count(after) - count(before)).toBe(n);
        expect(after.value("apikeys_rpc_duration_seconds_sum", labels)).toBeGreaterThan(before.value("apikeys_rpc_duration_seconds_sum", labels));
        const buckets = [...RPC_DURATION_BUCKETS.map(String), "+Inf"].map((le) => after.value("apikeys_rpc_duration_seconds_bucket", { ...labels, le }));
        for (let i = 1; i < buckets.length; i++) expect(buckets[i]).toBeGreaterThanOrEqual(buckets[i - 1]!);
        expect(buckets.at(-1)).toBe(count(after));
      }
    } finally {
      grpcJs.close();
    }
  });

  it("counts VerifyApiKey outcomes by status on both ports, kept answers included", async () => {
    const key = await createKey("Outcomes");
    const gone = await createKey("Outcomes, deleted");
    await server.apiKeys(server.principals.owner).deleteApiKey({ id: gone.id });
    const grpcJs = grpcVerifier(server);
    try {
      const before = await scrape();
      const outcomes = [
        await grpcJs.verify(key.secret, ["orders:read"]),
        await grpcJs.verify(key.secret, ["orders:read"]), // a kept answer
        await grpcJs.verify(key.secret, ["orders:write"]),
        await grpcJs.verify("not-a-key"),
        await grpcJs.verify(mintToken(server.config.keyPrefix)),
        await grpcJs.verify(gone.secret),
      ];
      expect(outcomes).toEqual(["VALID", "VALID", "INSUFFICIENT_SCOPE", "MALFORMED", "NOT_FOUND", "REVOKED"]);
      expect((await connectJson("VerifyApiKey", { key: key.secret, requiredScopes: ["orders:write"] }, server.principals.service)).body.status).toBe(
        "VERIFICATION_STATUS_INSUFFICIENT_SCOPE",
      );
      const after = await scrape();
      const delta = (status: string) => after.value("apikeys_verifications_total", { status }) - before.value("apikeys_verifications_total", { status });
      expect(Object.fromEntries(["valid", "insufficient_scope", "malformed", "not_found", "revoked", "expired"].map((s) => [s, delta(s)]))).toEqual({
        valid: 2,
        insufficient_scope: 2,
        malformed: 1,
        not_found: 1,
        revoked: 1,
        expired: 0,
      });
    } finally {
      grpcJs.close();
    }
  });
});

describe("caches", () => {
  it("count hits, misses and evictions, and their entries, for keys, callers and kept answers", async () => {
    const key = await createKey("Caches");
    const grpcJs = grpcVerifier(server);
    try {
      const [before, during] = await whileListening(server, async () => {
        const first = await scrape();
        expect(await grpcJs.verify(key.secret)).toBe("VALID"); // key: a miss, then filled
        expect(await grpcJs.verify(key.secret)).toBe("VALID"); // a kept answer
        expect((await connectJson("VerifyApiKey", { key: key.secret }, server.principals.service)).body.valid).toBe(true); // key: a hit
        return [first, await scrape()];
      });
      const delta = (name: string, cache: string) => during.value(name, { cache }) - before.value(name, { cache });
      expect(delta("apikeys_cache_misses_total", "keys")).toBeGreaterThanOrEqual(1);
      expect(delta("apikeys_cache_hits_total", "keys")).toBeGreaterThanOrEqual(1);
      expect(delta("apikeys_cache_hits_total", "callers")).toBeGreaterThanOrEqual(1);
      expect(delta("apikeys_cache_hits_total", "answers")).toBe(1);
      expect(delta("apikeys_cache_misses_total", "answers")).toBeGreaterThanOrEqual(1);
      for (const cache of ["keys", "callers", "answers"]) {
        expect(during.value("apikeys_cache_entries", { cache })).toBeGreaterThanOrEqual(1);
        expect(during.value("apikeys_cache_enabled", { cache })).toBe(1);
      }

      // Deleting the key evicts its entry on this replica, before the delete is answered.
      const evictions = (m: Exposition) => m.value("apikeys_cache_evictions_total", { cache: "keys", reason: "changed" });
      const [beforeDelete, afterDelete] = await whileListening(server, async () => {
        const first = await scrape();
        expect(await grpcJs.verify(key.secret)).toBe("VALID");
        await server.apiKeys(server.principals.owner).deleteApiKey({ id: key.id });
        return [first, await scrape()];
      });
      expect(evictions(afterDelete) - evictions(beforeDelete)).toBeGreaterThanOrEqual(1);
      // The delete waited for every replica's confirmation.
      expect(afterDelete.value("apikeys_replica_confirmation_duration_seconds_count", { outcome: "confirmed" })).toBeGreaterThan(
        beforeDelete.value("apikeys_replica_confirmation_duration_seconds_count", { outcome: "confirmed" }),
      );
    } finally {
      grpcJs.close();
    }
  });

  it("the last-used flushes are timed and count the keys they write", async () => {
    const key = await createKey("Last used");
    const grpcJs = grpcVerifier(server);
    try {
      const before = await scrape();
      expect(await grpcJs.verify(key.secret)).toBe("VALID");
      const flushed = (m: Exposition) => m.value("apikeys_last_used_flushed_keys_total");
      const ok = (m: Exposition) => m.value("apikeys_last_used_flush_duration_seconds_count", { result: "ok" });
      const after = await scrapeUntil("a last-used flush", (m) => flushed(m) > flushed(before) && ok(m) > ok(before));
      expect(after.value("apikeys_last_used_flush_duration_seconds_sum", { result: "ok" })).toBeGreaterThan(0);
      expect(after.has("apikeys_last_used_pending_keys")).toBe(true);
    } finally {
      grpcJs.close();
    }
  });
});

describe("Postgres", () => {
  it("the pool's connections are gauges, and a stopped Postgres shows in the readiness gauges until it is back", async () => {
    const serving = (m: Exposition) => [m.value("apikeys_ready"), m.value("apikeys_database_reachable"), m.value("apikeys_replica_listener_up")];
    const first = await scrapeUntil("a serving server", (m) => serving(m).every((v) => v === 1));
    expect(first.value("apikeys_db_pool_max_connections")).toBe(10);
    expect(first.value("apikeys_db_pool_connections", { state: "idle" }) + first.value("apikeys_db_pool_connections", { state: "in_use" })).toBeGreaterThanOrEqual(1);
    expect(first.has("apikeys_db_pool_waiting_requests")).toBe(true);
    const offBefore = first.value("apikeys_replica_caches_off_total");

    await cluster.stop();
    try {
      const down = await scrapeUntil("Postgres down", (m) => serving(m).every((v) => v === 0));
      expect(down.value("apikeys_cache_enabled", { cache: "keys" })).toBe(0);
    } finally {
      await cluster.start();
    }
    const back = await scrapeUntil("Postgres back", (m) => serving(m).every((v) => v === 1));
    expect(back.value("apikeys_replica_caches_off_total")).toBeGreaterThan(offBefore);
    expect(back.value("apikeys_cache_enabled", { cache: "keys" })).toBe(1);
  });
});

describe("argon2 pool", () => {
  it("under a flood of wrong secrets for one key id, shows checks running and queued, and counts refusals and guesses", { timeout: 180_000 }, async () => {
    // One slot and OWASP's cost: each check holds the key's line for tens of milliseconds; the
    // line holds 4 guesses, so that 32 in flight overflow it.
    const flooded = await startTestServer({
      APIKEYS_METRICS_PORT: "0",
      APIKEYS_ARGON2_MAX_QUEUED_PER_KEY: "4",
      APIKEYS_ARGON2_MAX_CONCURRENT: "1",
      APIKEYS_ARGON2_MEMORY_KIB: "19456",
      APIKEYS_ARGON2_ITERATIONS: "2",
    });
    secrets.push(...Object.values(flooded.principals).filter((v) => v.startsWith("akp_")));
    try {
      const created = await flooded.apiKeys(flooded.principals.owner).createApiKey({ name: "Flooded", access: AccessLevel.FULL });
      secrets.push(created.secret);
      keyIds.push(created.apiKey!.id);
      const targetId = parseToken(created.secret, flooded.config.keyPrefix)!.id;
      const { verify, close } = grpcVerifier(flooded);
      let stopped = false;
      const guesses: string[] = [];
      const worker = async () => {
        for (let sent = 0; !stopped && sent < 2000; sent++) {
          const guess = mintToken(flooded.config.keyPrefix, targetId);
          if (guesses.length < 100) guesses.push(guess);
          await verify(guess);
        }
      };
      const workers = Promise.all(Array.from({ length: 32 }, worker));
      try {
        const busy = await scrapeUntil(
          "checks queued and refused",
          (m) => m.value("apikeys_argon2_queued_checks") > 0 && m.value("apikeys_argon2_refused_checks_total") > 0,
          flooded,
        );
        expect(busy.value("apikeys_argon2_running_checks")).toBeLessThanOrEqual(1);
        expect(busy.value("apikeys_argon2_checks_total")).toBeGreaterThan(0);
        expect(busy.value("apikeys_argon2_guesses_total")).toBeGreaterThan(0);
        const running = await scrapeUntil("a check running", (m) => m.value("apikeys_argon2_running_checks") === 1, flooded);
        expect(running.value("apikeys_rpc_calls_total", { method: "VerifyApiKey", protocol: "grpc", code: "ResourceExhausted" })).toBeGreaterThan(0);
      } finally {
        stopped = true;
        await workers;
        close();
      }
      secrets.push(...guesses);
      const idle = await scrapeUntil("the pool idle again", (m) => m.value("apikeys_argon2_running_checks") === 0 && m.value("apikeys_argon2_queued_checks") === 0, flooded);
      expect(idle.value("apikeys_verifications_total", { status: "not_found" })).toBeGreaterThan(0);
      await expectNoSecrets(flooded);
    } finally {
      await flooded.stop();
    }
  });
});

/** No secret, token or key id anywhere in a scrape, label values included. */
async function expectNoSecrets(of: TestServer): Promise<void> {
  const text = (await curlGet(`http://127.0.0.1:${of.app.metricsPort}/metrics`)).body;
  expect(secrets.length).toBeGreaterThan(5);
  for (const secret of secrets) expect(text).not.toContain(secret);
  for (const id of keyIds) expect(text).not.toContain(id);
  // Anything shaped like a key or a token, whoever minted it.
  expect(text).not.toMatch(/[a-z][a-z0-9]{1,15}_[0-9A-Za-z]{40,}/);
}

describe("names and labels", () => {
  it("follow Prometheus' conventions: apikeys_ prefix, base units, counters ending in _total, a help text each", async () => {
    const m = await scrape();
    const ours = [...m.families.values()].filter((f) => f.name.startsWith("apikeys_"));
    expect(ours.length).toBeGreaterThanOrEqual(24);
    for (const family of m.families.values()) {
      // Ours, or Node's process metrics under prom-client's standard names.
      expect(family.name).toMatch(/^(apikeys|process|nodejs)_[a-z0-9_]*[a-z0-9]$/);
      expect(family.help, family.name).not.toBe("");
      expect(["counter", "gauge", "histogram"], family.name).toContain(family.type);
      if (family.type === "counter") expect(family.name).toMatch(/_total$/);
    }
    // prom-client names three of its gauges *_total (nodejs_active_handles_total...); ours never.
    for (const family of ours) {
      if (family.type !== "counter") expect(family.name).not.toMatch(/_(total|count|sum|bucket)$/);
      if (family.type === "histogram") expect(family.name).toMatch(/_(seconds|bytes)$/);
      // Base units only: seconds and bytes, never milliseconds or kilobytes.
      expect(family.name).not.toMatch(/_(ms|milliseconds|microseconds|minutes|hours|kb|kilobytes|mb|megabytes|percent)(_|$)/);
    }
    const declared = new Set([...m.families.values()].flatMap(sampleNames));
    for (const sample of m.samples) {
      expect(declared, sample.name).toContain(sample.name);
      for (const label of Object.keys(sample.labels)) expect(label).toMatch(/^[a-z][a-z0-9_]*$/);
    }
  });

  it("carry no secret, token or key id in any label", async () => {
    await expectNoSecrets(server);
  });
});

describe("the Grafana dashboard", () => {
  it("uses only metrics the server exports, in every panel's expression and variable, and shows every apikeys_ metric", async () => {
    const dashboard = JSON.parse(await readFile("deploy/grafana/apikeys-dashboard.json", "utf8")) as {
      panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }>;
      templating: { list: Array<{ query?: string | { query: string } }> };
    };
    const expressions = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
      ...dashboard.templating.list.flatMap((v) => (typeof v.query === "object" ? [v.query.query] : [])),
    ];
    expect(dashboard.panels.filter((p) => p.type !== "row").every((p) => (p.targets ?? []).length > 0)).toBe(true);
    expect(expressions.length).toBeGreaterThanOrEqual(30);
    const used = new Set(expressions.flatMap(metricNamesIn));
    // The extraction itself: names inside functions, aggregations and binary operations are found.
    expect(metricNamesIn('sum by (le) (rate(a_bucket{x="1"}[5m])) / on (y) b_total + 1e3')).toEqual(["a_bucket", "b_total"]);

    const m = await scrape();
    const exported = new Set([...m.families.values()].flatMap(sampleNames));
    for (const name of used) expect(exported, `the dashboard uses ${name}`).toContain(name);
    for (const family of m.families.values()) {
      if (!family.name.startsWith("apikeys_")) continue;
      expect(sampleNames(family).some((n) => used.has(n)), `the dashboard shows ${family.name}`).toBe(true);
    }
  });
});
