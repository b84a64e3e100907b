// The HTTP port's lean path for unary Connect calls (server/connect-unary.ts) against connect-node:
// the same services behind two listeners, one with the lean path and one without, and every request
// sent to both, over HTTP/1.1 and h2c; status, headers and body must be the same, byte for byte.
// The lean listener's access log says which path answered, so a case meant for the lean path cannot
// silently fall back and compare connect-node with itself.
import { execFile } from "node:child_process";
import * as http from "node:http";
import * as http2 from "node:http2";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { ApiKeyService, VerificationStatus, VerifyApiKeyRequestSchema } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { startHttpServer, type HttpServer } from "../server/http-server.js";
import { createLogger } from "../server/logger.js";
import { createRoutes, createServices } from "../server/routes.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const MAX_MESSAGE_BYTES = 4096;
const SERVICE = "/apikeys.v1.ApiKeyService";

let server: TestServer;
let wiring: Awaited<ReturnType<typeof createServices>>;
let lean: HttpServer;
let reference: HttpServer;
const leanLog: Array<Record<string, unknown>> = [];
let secret: string;

beforeAll(async () => {
  server = await startTestServer();
  wiring = await createServices(server.app.db, server.config, createLogger("error"), server.app.databaseUrl);
  const listen = { host: "127.0.0.1", port: 0, maxMessageBytes: MAX_MESSAGE_BYTES, routes: createRoutes(wiring.services) };
  lean = await startHttpServer({ ...listen, log: createLogger("debug", {}, (line) => void leanLog.push(JSON.parse(line) as Record<string, unknown>)) });
  reference = await startHttpServer({ ...listen, log: createLogger("error"), connectUnary: false });
  const created = await server.apiKeys(server.principals.owner).createApiKey({ name: "Conformance", access: AccessLevel.CUSTOM, scopes: ["orders:read"] });
  secret = created.secret;
});
afterAll(async () => {
  await lean?.shutdown();
  await reference?.shutdown();
  await wiring?.stop();
  await server?.stop();
});

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

interface Sent {
  readonly method?: string;
  readonly path: string;
  /** Header name and value pairs; a name may repeat. */
  readonly headers: Array<[string, string]>;
  readonly body?: string | Buffer;
  /** Send the body without a content-length (chunked on HTTP/1.1). */
  readonly unsized?: boolean;
}

// Headers that say when or over which connection, not what the answer is.
const CONNECTION_HEADERS = new Set(["date", "connection", "keep-alive", "transfer-encoding"]);

function answerOf(status: number, raw: Record<string, unknown>, body: Buffer): Answer {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (name.startsWith(":") || CONNECTION_HEADERS.has(name)) continue;
    headers[name] = Array.isArray(value) ? value.join("\n") : String(value);
  }
  return { status, headers, body };
}

function sendHttp1(port: number, req: Sent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = req.body === undefined ? undefined : Buffer.from(req.body);
    // A raw header list (names may repeat) is sent as it is: node:http adds no host header to it.
    const headers: string[] = ["host", `127.0.0.1:${port}`, ...req.headers.flat()];
    if (body && !req.unsized) headers.push("content-length", String(body.byteLength));
    const r = http.request({ host: "127.0.0.1", port, method: req.method ?? "POST", path: req.path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(answerOf(res.statusCode ?? 0, res.headers, Buffer.concat(chunks))));
      res.on("error", reject);
    });
    r.on("error", reject);
    if (body && req.unsized) {
      // Two writes: node:http then sends the body chunked.
      r.write(body.subarray(0, 1));
      r.end(body.subarray(1));
    } else r.end(body);
  });
}

function sendH2c(port: number, req: Sent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const body = req.body === undefined ? undefined : Buffer.from(req.body);
    const headers: http2.OutgoingHttpHeaders = { ":method": req.method ?? "POST", ":path": req.path };
    // node:http2 sends a header once; repeats go as one value listing them, as HTTP allows.
    for (const [name, value] of req.headers) headers[name] = headers[name] === undefined ? value : `${String(headers[name])}, ${value}`;
    if (body && !req.unsized) headers["content-length"] = String(body.byteLength);
    const stream = session.request(headers);
    let status = 0;
    let raw: Record<string, unknown> = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      raw = h;
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("close", () => {
      session.close();
      if (status === 0) reject(new Error(`stream closed without an answer (code ${stream.rstCode})`));
      else resolve(answerOf(status, raw, Buffer.concat(chunks)));
    });
    stream.on("error", () => undefined); // a reset after the answer (NO_ERROR) is not a failure here
    stream.end(body);
  });
}

type Protocol = "HTTP/1.1" | "h2c";
const send = (protocol: Protocol, port: number, req: Sent) => (protocol === "h2c" ? sendH2c(port, req) : sendHttp1(port, req));

/**
 * Which path answered the lean listener's first request to `path` logged after line `from`. The
 * line is written when the response closes, which may be after the client has the answer: wait.
 */
async function handlerOf(path: string, from: number): Promise<unknown> {
  const bare = path.split("?", 1)[0];
  for (const started = Date.now(); Date.now() - started < 10_000; ) {
    const line = leanLog.slice(from).find((l) => l.msg === "http request" && l.path === bare);
    if (line) return line.handler;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return "no log line";
}

/** Sends `req` to both listeners and expects the same answer; returns the lean listener's. */
async function sameAnswer(protocol: Protocol, req: Sent, path: "lean" | "fallback" = "lean"): Promise<Answer> {
  const from = leanLog.length;
  const fromLean = await send(protocol, lean.port, req);
  expect(await handlerOf(req.path, from)).toBe(path === "lean" ? "connect-unary" : "connect-node");
  const fromReference = await send(protocol, reference.port, req);
  // An answer may name the listener's own address (the Origin check does): the ports differ.
  const text = (a: Answer, port: number) => a.body.toString("latin1").replaceAll(`127.0.0.1:${port}`, "127.0.0.1:PORT");
  expect({ ...fromLean, body: text(fromLean, lean.port) }).toEqual({ ...fromReference, body: text(fromReference, reference.port) });
  return fromLean;
}

const json = (token?: string): Array<[string, string]> => [
  ["content-type", "application/json"],
  ...(token === undefined ? [] : ([["authorization", `Bearer ${token}`]] as Array<[string, string]>)),
];
const verify = (body: unknown, headers = json(server.principals.service)): Sent => ({ path: `${SERVICE}/VerifyApiKey`, headers, body: JSON.stringify(body) });

describe.each<Protocol>(["HTTP/1.1", "h2c"])("unary Connect calls over %s: the lean path answers as connect-node", (protocol) => {
  it("when a service verifies a key, then both answer the same verification", async () => {
    const valid = await sameAnswer(protocol, verify({ key: secret, requiredScopes: ["orders:read"] }));
    expect(valid.status).toBe(200);
    expect(JSON.parse(valid.body.toString())).toMatchObject({ valid: true, status: "VERIFICATION_STATUS_VALID" });
    const insufficient = await sameAnswer(protocol, verify({ key: secret, requiredScopes: ["orders:write"] }));
    expect(JSON.parse(insufficient.body.toString())).toMatchObject({ valid: false, missingScopes: ["orders:write"] });
    await sameAnswer(protocol, verify({ key: "ak_notakey" }));
  });

  it("when the request is binary protobuf, then both answer in protobuf", async () => {
    const body = Buffer.from(toBinary(VerifyApiKeyRequestSchema, create(VerifyApiKeyRequestSchema, { key: secret, requiredScopes: ["orders:read"] })));
    const answer = await sameAnswer(protocol, { path: `${SERVICE}/VerifyApiKey`, headers: [["content-type", "application/proto"], ["authorization", `Bearer ${server.principals.service}`]], body });
    expect(answer.headers["content-type"]).toBe("application/proto");
    const broken = await sameAnswer(protocol, { path: `${SERVICE}/VerifyApiKey`, headers: [["content-type", "application/proto"], ["authorization", `Bearer ${server.principals.service}`]], body: "\n\u0064A" });
    expect(JSON.parse(broken.body.toString())).toMatchObject({ code: "invalid_argument" });
  });

  it("when the caller has no credential, two credentials, or a member's, then both refuse it alike", async () => {
    expect((await sameAnswer(protocol, verify({ key: secret }, json()))).status).toBe(401);
    const twice: Array<[string, string]> = [...json(server.principals.service), ["authorization", `Bearer ${server.principals.owner}`]];
    expect((await sameAnswer(protocol, verify({ key: secret }, twice))).status).toBe(401);
    expect((await sameAnswer(protocol, { path: `${SERVICE}/ListApiKeys`, headers: json(server.principals.member), body: "{}" })).status).toBe(403);
  });

  it("when fields are invalid, then both answer invalid_argument with the same field violations", async () => {
    const answer = await sameAnswer(protocol, { path: `${SERVICE}/GetApiKey`, headers: json(server.principals.owner), body: JSON.stringify({ id: "not an id" }) });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body.toString())).toMatchObject({ code: "invalid_argument", details: [{ type: "google.rpc.BadRequest" }] });
    const missing = await sameAnswer(protocol, { path: `${SERVICE}/GetApiKey`, headers: json(server.principals.owner), body: JSON.stringify({ id: "nosuchkey123" }) });
    expect(missing.status).toBe(404);
  });

  it("when the body cannot be decoded, then both answer invalid_argument with connect's message", async () => {
    const bodies = ['{"key":', '{"nmae":"x"}', '{"key":"\\ud800"}', Buffer.from('{"key":"\xff\xfe"}', "latin1"), '{"requiredScopes":"orders:read"}', ""];
    for (const body of bodies) {
      const answer = await sameAnswer(protocol, { path: `${SERVICE}/VerifyApiKey`, headers: json(server.principals.service), body });
      expect(answer.status, String(body)).toBe(400);
      expect(JSON.parse(answer.body.toString()).code).toBe("invalid_argument");
    }
  });

  it("when the body is larger than the limit without a content-length, then both answer resource_exhausted (429)", async () => {
    const big = verify({ key: "k".repeat(MAX_MESSAGE_BYTES) });
    const answer = await sameAnswer(protocol, { ...big, unsized: true });
    expect(answer.status).toBe(429);
    expect(JSON.parse(answer.body.toString())).toMatchObject({ code: "resource_exhausted" });
    // With a content-length over the limit, connect-node answers on both listeners.
    expect((await sameAnswer(protocol, big, "fallback")).status).toBe(429);
  });

  it("when the deadline has passed or is malformed, then both answer alike", async () => {
    const passed = await sameAnswer(protocol, verify({ key: secret }, [...json(server.principals.service), ["connect-timeout-ms", "0"]]));
    expect(passed.status).toBe(504);
    expect(JSON.parse(passed.body.toString())).toMatchObject({ code: "deadline_exceeded" });
    await sameAnswer(protocol, verify({ key: secret }, [...json(server.principals.service), ["connect-timeout-ms", "10000"], ["connect-protocol-version", "1"]]));
    expect((await sameAnswer(protocol, verify({ key: secret }, [...json(server.principals.service), ["connect-timeout-ms", "soon"]]), "fallback")).status).toBe(400);
  });

  it("when the client accepts gzip, then a large answer is compressed alike and a small one is not", async () => {
    const headers: Array<[string, string]> = [...json(server.principals.owner), ["accept-encoding", "gzip"]];
    const scopes = Array.from({ length: 60 }, (_, i) => `unknown:scope-${i}`);
    const large = await sameAnswer(protocol, { path: `${SERVICE}/CreateApiKey`, headers, body: JSON.stringify({ name: "Too many", access: "ACCESS_LEVEL_CUSTOM", scopes }) });
    expect(large.headers["content-encoding"]).toBe("gzip");
    expect(JSON.parse(gunzipSync(large.body).toString())).toMatchObject({ code: "invalid_argument" });
    const small = await sameAnswer(protocol, verify({ key: secret }, [...json(server.principals.service), ["accept-encoding", "gzip, br"]]));
    expect(small.headers["content-encoding"]).toBeUndefined();
  });

  it("when the content type or the method is not a unary Connect POST, then connect-node answers on both", async () => {
    await sameAnswer(protocol, { path: `${SERVICE}/VerifyApiKey`, headers: [["content-type", "text/plain"]], body: "{}" }, "fallback");
    await sameAnswer(protocol, { path: `${SERVICE}/VerifyApiKey`, headers: [["content-type", "application/json"], ["content-encoding", "gzip"]], body: "{}" }, "fallback");
    await sameAnswer(protocol, { method: "GET", path: `${SERVICE}/ListScopes?encoding=json&message=%7B%7D`, headers: [["authorization", `Bearer ${server.principals.owner}`]] }, "fallback");
    const put = await sameAnswer(protocol, { method: "PUT", path: `${SERVICE}/VerifyApiKey`, headers: json(), body: "{}" }, "fallback");
    expect(put.status).toBe(405);
    expect(put.headers.allow).toBe("POST");
  });

  it("when every unary method is called, then each takes the lean path (from the descriptors, not VerifyApiKey alone)", async () => {
    const answer = await sameAnswer(protocol, { path: `${SERVICE}/ListScopes`, headers: [["content-type", "application/json; charset=utf-8"], ["authorization", `Bearer ${server.principals.owner}`]], body: "{}" });
    expect(JSON.parse(answer.body.toString()).scopes.length).toBeGreaterThan(0);
    await sameAnswer(protocol, { path: "/apikeys.v1.SupportService/GetLegacyKey", headers: json(server.principals.support), body: JSON.stringify({ workspaceId: server.principals.workspaceId }) });
  });
});

describe.each<Protocol>(["HTTP/1.1", "h2c"])("browser sessions over %s: the lean path answers as connect-node", (protocol) => {
  const SESSIONS = "/apikeys.v1.SessionService";
  const signIn = (): Sent => ({ path: `${SESSIONS}/SignIn`, headers: json(), body: JSON.stringify({ token: server.principals.owner }) });
  // A session's token and CSRF token are new at every sign-in: compare the answers without them.
  const shape = (a: Answer) => ({
    status: a.status,
    headers: { ...a.headers, "content-length": "", "set-cookie": a.headers["set-cookie"]?.replace(/=[^;]*/, "=…") },
    body: Object.keys(JSON.parse(a.body.toString()) as object),
  });

  it("when a browser signs in, then both set the session cookie alike, and the cookie authenticates on the lean path", async () => {
    const from = leanLog.length;
    const fromLean = await send(protocol, lean.port, signIn());
    expect(await handlerOf(`${SESSIONS}/SignIn`, from)).toBe("connect-unary");
    const fromReference = await send(protocol, reference.port, signIn());
    expect(shape(fromLean)).toEqual(shape(fromReference));
    expect(fromLean.headers["set-cookie"]).toMatch(/HttpOnly/i);
    const cookie = fromLean.headers["set-cookie"]!.split(";", 1)[0]!;
    const session = await sameAnswer(protocol, { path: `${SESSIONS}/GetSession`, headers: [["content-type", "application/json"], ["cookie", cookie]], body: "{}" });
    expect(session.status).toBe(200);
  });

  it("when a session cookie comes from another site, or a change lacks its CSRF token, then both refuse it alike", async () => {
    const cookie = (await send(protocol, reference.port, signIn())).headers["set-cookie"]!.split(";", 1)[0]!;
    const crossSite = await sameAnswer(protocol, { path: `${SERVICE}/ListApiKeys`, headers: [["content-type", "application/json"], ["cookie", cookie], ["origin", "https://evil.example"]], body: "{}" });
    expect(crossSite.status).toBeGreaterThanOrEqual(400);
    const noCsrf = await sameAnswer(protocol, { path: `${SERVICE}/DeleteApiKey`, headers: [["content-type", "application/json"], ["cookie", cookie]], body: JSON.stringify({ id: "nosuchkey123" }) });
    expect(noCsrf.status).toBeGreaterThanOrEqual(400);
    const stale = await sameAnswer(protocol, { path: `${SERVICE}/ListApiKeys`, headers: [["content-type", "application/json"], ["cookie", "apikeys_session=aks_nonsense"]], body: "{}" });
    expect(stale.status).toBe(401);
  });
});

describe("clients we did not write, on the lean path", () => {
  it("when connect-node's Connect transport calls over HTTP/1.1 and HTTP/2, then it gets its answers and errors", async () => {
    for (const httpVersion of ["1.1", "2"] as const) {
      const transport = createConnectTransport({
        baseUrl: `http://127.0.0.1:${lean.port}`,
        httpVersion,
        interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${server.principals.service}`), next(req))],
      });
      const client = createClient(ApiKeyService, transport);
      const before = leanLog.length;
      expect((await client.verifyApiKey({ key: secret, requiredScopes: ["orders:read"] })).status).toBe(VerificationStatus.VALID);
      const binary = createClient(ApiKeyService, createConnectTransport({ baseUrl: `http://127.0.0.1:${lean.port}`, httpVersion, useBinaryFormat: true }));
      await expect(binary.verifyApiKey({ key: secret })).rejects.toMatchObject({ code: 16 });
      await expect(client.getApiKey({ id: "not an id" }, { timeoutMs: 5_000 })).rejects.toMatchObject({ code: 3 });
      for (let logged = 0; logged < 3; ) {
        logged = leanLog.slice(before).filter((l) => l.msg === "http request").length;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(leanLog.slice(before).filter((l) => l.msg === "http request").map((l) => l.handler)).toEqual(["connect-unary", "connect-unary", "connect-unary"]);
    }
  });

  it("when curl posts Connect JSON over HTTP/1.1 and h2c, then it gets the verification", async () => {
    for (const flag of ["--http1.1", "--http2-prior-knowledge"]) {
      const from = leanLog.length;
      const { stdout } = await promisify(execFile)("curl", [
        "-sS", flag, "-H", "content-type: application/json", "-H", `authorization: Bearer ${server.principals.service}`,
        "-d", JSON.stringify({ key: secret, requiredScopes: ["orders:read"] }), `http://127.0.0.1:${lean.port}${SERVICE}/VerifyApiKey`,
      ]);
      expect(JSON.parse(stdout)).toMatchObject({ valid: true, status: "VERIFICATION_STATUS_VALID" });
      expect(await handlerOf(`${SERVICE}/VerifyApiKey`, from)).toBe("connect-unary");
    }
  });
});

describe("response headers Node refuses, on the lean path", () => {
  it("when an implementation sets a header value with a control character, then the header is dropped and reported, the call answered, and the server keeps serving", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const own = await startHttpServer({
      host: "127.0.0.1",
      port: 0,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      // Fetch Headers take "\u0001"; node:http's writeHead throws for it (ERR_INVALID_CHAR).
      routes: (router) =>
        router.service(ApiKeyService, {
          listScopes(_req, ctx) {
            ctx.responseHeader.set("x-note", "a\u0001b");
            ctx.responseHeader.set("x-kept", "yes");
            return { scopes: [{ name: "orders:read", description: "Read orders" }] };
          },
        }),
      log: createLogger("debug", {}, (line) => void lines.push(JSON.parse(line) as Record<string, unknown>)),
    });
    try {
      for (const protocol of ["HTTP/1.1", "h2c"] as const) {
        const answer = await send(protocol, own.port, { path: `${SERVICE}/ListScopes`, headers: [["content-type", "application/json"]], body: "{}" });
        expect([answer.status, answer.headers["x-kept"], answer.headers["x-note"]]).toEqual([200, "yes", undefined]);
        expect(JSON.parse(answer.body.toString())).toEqual({ scopes: [{ name: "orders:read", description: "Read orders" }] });
      }
      const reported = lines.filter((l) => l.msg === "rpc failed" && (l.error as { message?: string }).message === 'dropped response header "x-note"');
      expect(reported).toHaveLength(2);
      // The access line is written when the response closes, possibly after the client has its answer.
      for (const started = Date.now(); Date.now() - started < 10_000 && lines.filter((l) => l.msg === "http request").length < 2; ) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(lines.filter((l) => l.msg === "http request").map((l) => l.handler)).toEqual(["connect-unary", "connect-unary"]);
    } finally {
      await own.shutdown();
    }
  });
});
