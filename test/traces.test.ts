// OpenTelemetry traces: one server span per call on both ports, a child of the span the caller
// sent (W3C traceparent and tracestate, in gRPC metadata and HTTP headers), with a span for each
// of its queries under it; the code on the span; nothing secret anywhere in a span. In process,
// spans are collected in memory through the official SDK; a spawned `bin/apikeys serve` shows the
// OTEL_* switch really turning export to an OTLP/HTTP collector on and off.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { ApiKeyService } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { ConfigError } from "../server/config.js";
import { TRACE_VARIABLES, traceSettingsFromEnv } from "../server/tracing/trace-settings.js";
import { createTracing, type Tracing } from "../server/tracing/tracing.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { runServeToExit, startServeProcess } from "./support/serve-process.js";
import { signedInClient, signIn } from "./support/session.js";
import { startTestServer, TEST_ARGON2_ENV, type TestServer } from "./support/test-server.js";

const VERIFY = "apikeys.v1.ApiKeyService/VerifyApiKey";

/** A caller's span: the traceparent and tracestate it sends, and the ids they carry. */
function callerSpan() {
  const traceId = randomBytes(16).toString("hex");
  const spanId = randomBytes(8).toString("hex");
  const tracestate = `vendor=${randomBytes(4).toString("hex")}`;
  return { traceId, spanId, tracestate, headers: { traceparent: `00-${traceId}-${spanId}-01`, tracestate } };
}

describe("traces of calls, collected in memory", () => {
  let exporter: InMemorySpanExporter;
  let tracing: Tracing;
  let server: TestServer;
  // Everything secret the calls below send or receive; no span may hold any of it.
  const secrets: string[] = [];

  beforeAll(async () => {
    exporter = new InMemorySpanExporter();
    tracing = await createTracing({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    server = await startTestServer({}, { tracing });
    secrets.push(...Object.values(server.principals).filter((v) => v !== server.principals.workspaceId && v !== server.principals.otherWorkspaceId));
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await tracing?.shutdown();
  });

  const spansOf = (traceId: string) => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
  /** The one server span of the call in `traceId`, once it has ended. */
  const serverSpanOf = async (traceId: string) => {
    await vi.waitFor(() => expect(spansOf(traceId).filter((s) => s.kind === SpanKind.SERVER)).toHaveLength(1), { timeout: 10_000 });
    const servers = spansOf(traceId).filter((s) => s.kind === SpanKind.SERVER);
    // Still one, after the queries' spans have had every chance to come in.
    expect(servers).toHaveLength(1);
    return servers[0]!;
  };
  const childrenOf = (span: ReadableSpan) =>
    spansOf(span.spanContext().traceId).filter((s) => s.parentSpanContext?.spanId === span.spanContext().spanId);

  async function newKey(name = `Traced key ${randomBytes(3).toString("hex")}`) {
    const created = await server.apiKeys(server.principals.owner).createApiKey({ name, access: AccessLevel.FULL });
    secrets.push(created.secret, name);
    return created;
  }

  const grpcWeb = (token: string): Transport => {
    const auth: Interceptor = (next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req));
    return createGrpcWebTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", interceptors: [auth] });
  };
  const listeners: Array<[string, (token: string) => Transport, { system: string; code: Record<string, unknown> }]> = [
    ["gRPC on the gRPC port (grpc-js)", (token) => server.transport(token, "grpc"), { system: "grpc", code: { "rpc.grpc.status_code": 0 } }],
    ["Connect JSON on the HTTP port (the lean unary path)", (token) => server.transport(token, "http"), { system: "connect_rpc", code: {} }],
    ["gRPC-Web on the HTTP port (connect-node)", grpcWeb, { system: "grpc", code: { "rpc.grpc.status_code": 0 } }],
  ];

  describe.each(listeners)("VerifyApiKey over %s", (_name, transport, expected) => {
    it("makes one server span, a child of the caller's span, with a span for each query under it and no parameter value", async () => {
      const created = await newKey();
      const caller = callerSpan();
      const client = createClient(ApiKeyService, transport(server.principals.service));
      expect((await client.verifyApiKey({ key: created.secret }, { headers: caller.headers })).valid).toBe(true);

      const span = await serverSpanOf(caller.traceId);
      expect(span.name).toBe(VERIFY);
      expect(span.parentSpanContext?.spanId).toBe(caller.spanId);
      expect(span.spanContext().traceState?.serialize()).toBe(caller.tracestate);
      expect(span.attributes).toEqual({ "rpc.system": expected.system, "rpc.service": "apikeys.v1.ApiKeyService", "rpc.method": "VerifyApiKey", ...expected.code });
      expect(span.status.code).toBe(SpanStatusCode.UNSET);

      // A new key is not in any cache: its row is read, under this call's span.
      const queries = childrenOf(span);
      const lookup = queries.find((q) => q.attributes["db.sql.table"] === "api_keys");
      expect(lookup, JSON.stringify(queries.map((q) => q.name))).toBeDefined();
      expect(lookup).toMatchObject({ kind: SpanKind.CLIENT, name: "SELECT api_keys", attributes: { "db.system": "postgresql", "db.operation": "SELECT" } });
      expect(lookup!.attributes["db.statement"]).toMatch(/\$1/);
      // The key's id was the query's parameter.
      expect(JSON.stringify(spansOf(caller.traceId).map(everything))).not.toContain(created.apiKey!.id);
    });

    it("puts a client's mistake on the span as its code, without marking the span failed", async () => {
      const caller = callerSpan();
      const client = createClient(ApiKeyService, transport(`akp_${"x".repeat(50)}`));
      await expect(client.verifyApiKey({ key: "ak_nothing" }, { headers: caller.headers })).rejects.toThrow(/unauthenticated|credential|token/i);
      const span = await serverSpanOf(caller.traceId);
      expect(span.parentSpanContext?.spanId).toBe(caller.spanId);
      if (expected.system === "grpc") expect(span.attributes["rpc.grpc.status_code"]).toBe(16);
      else expect(span.attributes["rpc.connect_rpc.error_code"]).toBe("unauthenticated");
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
    });
  });

  it("a repeated call the gRPC port answers from its kept answers still makes its own span", async () => {
    const created = await newKey();
    const client = server.apiKeys(server.principals.service, "grpc");
    await client.verifyApiKey({ key: created.secret });
    const caller = callerSpan();
    expect((await client.verifyApiKey({ key: created.secret }, { headers: caller.headers })).valid).toBe(true);
    const span = await serverSpanOf(caller.traceId);
    expect(span).toMatchObject({ name: VERIFY, attributes: { "rpc.grpc.status_code": 0 } });
    expect(span.parentSpanContext?.spanId).toBe(caller.spanId);
  });

  it("a call without trace context starts a trace of its own", async () => {
    const before = new Set(exporter.getFinishedSpans().map((s) => s.spanContext().spanId));
    await server.apiKeys(server.principals.owner).listScopes({});
    await vi.waitFor(() => expect(exporter.getFinishedSpans().some((s) => !before.has(s.spanContext().spanId) && s.name.endsWith("/ListScopes"))).toBe(true));
    const span = exporter.getFinishedSpans().find((s) => !before.has(s.spanContext().spanId) && s.name.endsWith("/ListScopes"))!;
    expect(span.parentSpanContext).toBeUndefined();
  });

  it("plain HTTP: a body that does not decode still has its span, with the caller's trace context and invalid_argument", async () => {
    const caller = callerSpan();
    const res = await fetch(`${server.httpUrl}/apikeys.v1.ApiKeyService/VerifyApiKey`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${server.principals.service}`, ...caller.headers },
      body: "{",
    });
    expect(res.status).toBe(400);
    const span = await serverSpanOf(caller.traceId);
    expect(span.parentSpanContext?.spanId).toBe(caller.spanId);
    expect(span.attributes["rpc.connect_rpc.error_code"]).toBe("invalid_argument");
  });

  it("a server-side failure (the deadline passed before the work started) marks the span failed", async () => {
    const caller = callerSpan();
    const res = await fetch(`${server.httpUrl}/apikeys.v1.ApiKeyService/ListScopes`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "0", authorization: `Bearer ${server.principals.owner}`, ...caller.headers },
      body: "{}",
    });
    expect((await res.json()) as unknown).toMatchObject({ code: "deadline_exceeded" });
    const span = await serverSpanOf(caller.traceId);
    expect(span.attributes["rpc.connect_rpc.error_code"]).toBe("deadline_exceeded");
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: "deadline_exceeded" });
  });

  it("a change's queries (BEGIN, INSERT, COMMIT) are spans of the call that made it", async () => {
    const caller = callerSpan();
    const name = `Data warehouse export ${randomBytes(3).toString("hex")}`;
    const created = await server.apiKeys(server.principals.admin).createApiKey({ name, access: AccessLevel.FULL }, { headers: caller.headers });
    secrets.push(created.secret, name);
    const span = await serverSpanOf(caller.traceId);
    const operations = childrenOf(span).map((q) => q.attributes["db.operation"]);
    expect(operations).toEqual(expect.arrayContaining(["BEGIN", "INSERT", "COMMIT"]));
  });

  it("a browser's calls (session cookie, CSRF token) make spans too", async () => {
    const signedIn = await signIn(server.httpUrl, server.principals.admin);
    secrets.push(signedIn.token, signedIn.session.csrfToken);
    const caller = callerSpan();
    await signedInClient(ApiKeyService, server.httpUrl, signedIn).listApiKeys({}, { headers: caller.headers });
    const span = await serverSpanOf(caller.traceId);
    expect(span.name).toBe("apikeys.v1.ApiKeyService/ListApiKeys");
    expect(childrenOf(span).length).toBeGreaterThan(0);
  });

  // Last: it searches what every test above made.
  it("no span holds a token, a key's secret, a session cookie, a CSRF token, a request's body or a stored hash", () => {
    const spans = exporter.getFinishedSpans();
    expect(spans.filter((s) => s.kind === SpanKind.CLIENT).length).toBeGreaterThan(10);
    const text = JSON.stringify(spans.map(everything));
    expect(secrets.length).toBeGreaterThan(10);
    for (const secret of secrets) expect(text).not.toContain(secret);
    for (const marker of ["$argon2", "Bearer", "apikeys_session", "authorization", "cookie"]) expect(text).not.toContain(marker);
  });
});

/** Every part of a span a backend would show. */
function everything(span: ReadableSpan) {
  return {
    name: span.name,
    attributes: span.attributes,
    events: span.events,
    links: span.links,
    status: span.status,
    resource: span.resource.attributes,
    traceState: span.spanContext().traceState?.serialize(),
  };
}

describe("the OTEL_* switch", () => {
  it("is off unless an exporter or an endpoint is named, and OTEL_SDK_DISABLED=true always wins", () => {
    const on = (env: Record<string, string>) => traceSettingsFromEnv(env) !== undefined;
    expect(on({})).toBe(false);
    expect(on({ OTEL_SERVICE_NAME: "apikeys", OTEL_TRACES_SAMPLER: "always_on" })).toBe(false);
    expect(on({ OTEL_TRACES_EXPORTER: "otlp" })).toBe(true);
    expect(on({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toBe(true);
    expect(on({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" })).toBe(true);
    expect(on({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_TRACES_EXPORTER: "none" })).toBe(false);
    expect(on({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "true" })).toBe(false);
    expect(on({ OTEL_TRACES_EXPORTER: "otlp", OTEL_SDK_DISABLED: "TRUE" })).toBe(false);
    expect(on({ OTEL_TRACES_EXPORTER: "otlp", OTEL_SDK_DISABLED: "false" })).toBe(true);
  });

  it("reads the sampler and the batch settings", () => {
    expect(traceSettingsFromEnv({ OTEL_TRACES_EXPORTER: "otlp" })).toMatchObject({ sampler: "parentbased_always_on", ratio: 1 });
    expect(
      traceSettingsFromEnv({ OTEL_TRACES_EXPORTER: "otlp", OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.01", OTEL_BSP_SCHEDULE_DELAY: "200" }),
    ).toMatchObject({ sampler: "parentbased_traceidratio", ratio: 0.01, batch: { scheduledDelayMillis: 200 } });
  });

  it("every variable it reads is in the README's Traces section", () => {
    const section = readFileSync("README.md", "utf8").split("## Traces")[1]!.split("\n## ")[0]!;
    for (const name of TRACE_VARIABLES) expect(section).toContain(`\`${name}\``);
  });

  it.each([
    [{ OTEL_TRACES_EXPORTER: "zipkin" }, /OTEL_TRACES_EXPORTER must be otlp or none/],
    [{ OTEL_TRACES_EXPORTER: "otlp,console" }, /OTEL_TRACES_EXPORTER must be otlp or none/],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" }, /OTEL_EXPORTER_OTLP_ENDPOINT must be an http or https URL/],
    [{ OTEL_TRACES_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, /OTEL_EXPORTER_OTLP_PROTOCOL must be http\/protobuf/],
    [{ OTEL_TRACES_EXPORTER: "otlp", OTEL_TRACES_SAMPLER: "sometimes" }, /OTEL_TRACES_SAMPLER must be one of/],
    [{ OTEL_TRACES_EXPORTER: "otlp", OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "2" }, /OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1/],
    [{ OTEL_TRACES_EXPORTER: "otlp", OTEL_BSP_MAX_QUEUE_SIZE: "-1" }, /OTEL_BSP_MAX_QUEUE_SIZE must be a whole number/],
  ])("refuses %j, naming the variable", (env, message) => {
    expect(() => traceSettingsFromEnv(env)).toThrow(ConfigError);
    expect(() => traceSettingsFromEnv(env)).toThrow(message);
  });
});

describe("bin/apikeys serve and an OTLP/HTTP collector", () => {
  const SLOW = 240_000;
  let database: TestDatabase;
  let ownerToken: string;
  let collector: http.Server;
  let collectorUrl: string;
  const received: Array<{ path: string; contentType: string | undefined; body: Buffer }> = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    // bootstrap migrates the database first.
    const env = { ...process.env, DATABASE_URL: database.url, ...TEST_ARGON2_ENV, APIKEYS_LOG_LEVEL: "warn" };
    ownerToken = (await promisify(execFile)("bin/apikeys", ["bootstrap", "--workspace", "Traced", "--owner", "ops"], { env })).stdout.trim();
    // A collector as small as can be: it keeps every request and answers as OTLP/HTTP does.
    collector = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        received.push({ path: req.url ?? "", contentType: req.headers["content-type"], body: Buffer.concat(chunks) });
        res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  }, SLOW);
  afterAll(async () => {
    collector?.closeAllConnections();
    collector?.close();
    await database?.drop();
  });

  const serveEnv = (extra: Record<string, string>) => ({ DATABASE_URL: database.url, ...TEST_ARGON2_ENV, APIKEYS_LOG_LEVEL: "info", ...extra });
  const listKeys = (port: number, headers: Record<string, string>) =>
    fetch(`http://127.0.0.1:${port}/apikeys.v1.ApiKeyService/ListApiKeys`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ownerToken}`, ...headers },
      body: "{}",
    });

  it("with OTEL_EXPORTER_OTLP_ENDPOINT set, exports each call's span, in the caller's trace, to the collector", async () => {
    received.length = 0;
    const serve = await startServeProcess(serveEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl, OTEL_BSP_SCHEDULE_DELAY: "50" }));
    try {
      expect(serve.output()).toContain('"msg":"exporting traces"');
      const caller = callerSpan();
      expect((await listKeys(serve.httpPort, caller.headers)).status).toBe(200);
      const traceId = Buffer.from(caller.traceId, "hex");
      await vi.waitFor(() => expect(received.some((r) => r.body.includes(traceId))).toBe(true), { timeout: 30_000, interval: 50 });
      const request = received.find((r) => r.body.includes(traceId))!;
      expect(request).toMatchObject({ path: "/v1/traces", contentType: "application/x-protobuf" });
      expect(request.body.includes(Buffer.from("apikeys.v1.ApiKeyService/ListApiKeys"))).toBe(true);
      expect(request.body.includes(Buffer.from(caller.spanId, "hex"))).toBe(true);
      expect(request.body.includes(Buffer.from("postgresql"))).toBe(true);
      for (const r of received) expect(r.body.includes(Buffer.from(ownerToken))).toBe(false);
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  }, SLOW);

  it("with OTEL_SDK_DISABLED=true beside the endpoint, sends nothing, even when it drains and stops", async () => {
    received.length = 0;
    const serve = await startServeProcess(serveEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl, OTEL_BSP_SCHEDULE_DELAY: "50", OTEL_SDK_DISABLED: "true" }));
    try {
      expect((await listKeys(serve.httpPort, callerSpan().headers)).status).toBe(200);
    } finally {
      // A server exporting traces sends what it holds while it stops (the test above relies on no such thing).
      expect(await serve.stop()).toBe(0);
    }
    expect(serve.output()).not.toContain("exporting traces");
    expect(received).toEqual([]);
  }, SLOW);

  it("refuses to start with a value it cannot honour, naming the variable", async () => {
    const { code, output } = await runServeToExit(serveEnv({ OTEL_TRACES_EXPORTER: "zipkin" }));
    expect(code).toBe(2);
    expect(output).toContain("OTEL_TRACES_EXPORTER must be otlp or none");
  }, SLOW);
});
