// The HTTP listener, called with clients we did not write: curl (HTTP/1.1 and h2c prior
// knowledge), connect-node's Connect, gRPC and gRPC-Web transports, and @grpc/grpc-js.
import { execFile } from "node:child_process";
import * as http from "node:http";
import * as net from "node:net";
import path from "node:path";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import type { ServiceImpl, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCertificate, type TestCertificate } from "./support/certificate.js";
import { ApiKeyService, VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { startHttpServer, type HttpServer } from "../server/http-server.js";
import { createLogger, type Logger } from "../server/logger.js";

const MAX_MESSAGE_BYTES = 1024;
const SCOPES = [
  { name: "orders:read", description: "Read orders" },
  { name: "orders:write", description: "Create and change orders" },
];

function memoryLogger(): { log: Logger; lines: () => Array<Record<string, unknown>> } {
  const written: string[] = [];
  const log = createLogger("debug", {}, (line) => written.push(line));
  return { log, lines: () => written.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** A fixed ApiKeyService; VerifyApiKey's `key` picks the behaviour under test. */
function createImpl(hooks: { started?: () => void; aborted?: () => void } = {}) {
  return {
    listScopes: () => ({ scopes: SCOPES }),
    async verifyApiKey(req, ctx) {
      switch (req.key) {
        case "invalid":
          throw new ConnectError("key is malformed", Code.InvalidArgument, undefined, [
            { desc: FieldMaskSchema, value: { paths: ["key"] } },
          ]);
        case "crash":
          throw new Error("database password hunter2 rejected");
        case "slow":
          hooks.started?.();
          await new Promise((resolve) => setTimeout(resolve, 300));
          return { valid: true, status: VerificationStatus.VALID };
        case "hang":
          hooks.started?.();
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
          hooks.aborted?.();
          return {};
        default:
          return { valid: true, status: VerificationStatus.VALID, keyId: "key1" };
      }
    },
  } satisfies Partial<ServiceImpl<typeof ApiKeyService>>;
}

function start(log: Logger, impl = createImpl(), extra: { shutdownTimeoutMs?: number; tls?: { cert: Buffer; key: Buffer } } = {}) {
  return startHttpServer({
    host: "127.0.0.1",
    port: 0,
    routes: (router) => router.service(ApiKeyService, impl),
    maxMessageBytes: MAX_MESSAGE_BYTES,
    log,
    ...extra,
  });
}

interface CurlResult {
  status: number;
  httpVersion: string;
  headers: string;
  body: string;
}

/** Runs curl and splits its answer; `-w` appends the status line facts after the body. */
function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    execFile("curl", ["-sS", "-D", "-", "-w", "\n%{http_code} %{http_version}", ...args], (error, stdout) => {
      if (error) return reject(error);
      const [head = "", ...rest] = stdout.split("\r\n\r\n");
      const tail = rest.join("\r\n\r\n");
      const cut = tail.lastIndexOf("\n");
      const [status = "0", httpVersion = ""] = tail.slice(cut + 1).split(" ");
      resolve({ status: Number(status), httpVersion, headers: head.toLowerCase(), body: tail.slice(0, cut) });
    });
  });
}

function waitFor(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * A TCP proxy that forwards the first bytes of each client connection one per write, a few
 * milliseconds apart, so that the server sees the HTTP/2 preface (or an HTTP/1 request line) in
 * many small reads.
 */
async function startTricklingProxy(targetPort: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect({ host: "127.0.0.1", port: targetPort, noDelay: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => sockets.delete(s));
    }
    upstream.pipe(client);
    let trickled = 0;
    let queue: Promise<void> = Promise.resolve();
    client.on("data", (chunk: Buffer) => {
      queue = queue.then(async () => {
        for (const byte of chunk) {
          if (trickled++ < 40) await new Promise((resolve) => setTimeout(resolve, 2));
          upstream.write(Buffer.of(byte));
        }
      });
    });
    client.on("end", () => void queue.then(() => upstream.end()));
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const address = proxy.address() as net.AddressInfo;
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => resolve());
      }),
  };
}

const transports: Array<[string, (baseUrl: string) => Transport]> = [
  ["Connect JSON over HTTP/1.1", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" })],
  ["Connect binary over HTTP/1.1", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true })],
  ["Connect JSON over h2c", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2" })],
  ["Connect binary over h2c", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true })],
  ["gRPC over h2c", (baseUrl) => createGrpcTransport({ baseUrl })],
  ["gRPC-Web over HTTP/1.1", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
  ["gRPC-Web over h2c", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "2" })],
];

describe("HTTP listener (connect-node)", () => {
  const { log, lines } = memoryLogger();
  let server: HttpServer;
  let baseUrl: string;
  let service: string;

  beforeAll(async () => {
    server = await start(log);
    baseUrl = `http://127.0.0.1:${server.port}`;
    service = `${baseUrl}/apikeys.v1.ApiKeyService`;
  });
  afterAll(() => server?.shutdown());

  describe.each(transports)("%s", (_name, transport) => {
    it("when ListScopes is called, then it returns the catalog", async () => {
      const client = createClient(ApiKeyService, transport(baseUrl));

      const res = await client.listScopes({});

      expect(res.scopes.map((s) => [s.name, s.description])).toEqual(SCOPES.map((s) => [s.name, s.description]));
    });

    it("when the implementation throws a ConnectError, then the client gets its code, message and details", async () => {
      const client = createClient(ApiKeyService, transport(baseUrl));

      const error = await client.verifyApiKey({ key: "invalid" }).then(() => undefined, (e: unknown) => ConnectError.from(e));

      expect(error?.code).toBe(Code.InvalidArgument);
      expect(error?.rawMessage).toBe("key is malformed");
      expect(error?.findDetails(FieldMaskSchema).map((d) => d.paths)).toEqual([["key"]]);
    });
  });

  describe("curl with Connect JSON", () => {
    it("when called over HTTP/1.1, then it answers 200 with JSON", async () => {
      const res = await curl(["-H", "content-type: application/json", "-d", "{}", `${service}/ListScopes`]);

      expect([res.status, res.httpVersion]).toEqual([200, "1.1"]);
      expect(JSON.parse(res.body)).toEqual({ scopes: SCOPES });
    });

    it("when called over h2c with prior knowledge, then it answers 200 over HTTP/2", async () => {
      const res = await curl(["--http2-prior-knowledge", "-H", "content-type: application/json", "-d", "{}", `${service}/ListScopes`]);

      expect([res.status, res.httpVersion]).toEqual([200, "2"]);
      expect(JSON.parse(res.body)).toEqual({ scopes: SCOPES });
    });

    it("when the implementation throws a ConnectError, then the status is 400 with code and message", async () => {
      const res = await curl(["-H", "content-type: application/json", "-d", '{"key":"invalid"}', `${service}/VerifyApiKey`]);

      expect(res.status).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ code: "invalid_argument", message: "key is malformed" });
    });

    it("when the implementation throws anything else, then the answer is 500 'internal error' and the log has the cause", async () => {
      const res = await curl(["-H", "content-type: application/json", "-d", '{"key":"crash"}', `${service}/VerifyApiKey`]);

      expect(res.status).toBe(500);
      expect(JSON.parse(res.body)).toEqual({ code: "internal", message: "internal error" });
      expect(lines().find((l) => l.msg === "rpc failed")).toMatchObject({
        rpc: "apikeys.v1.ApiKeyService/VerifyApiKey",
        error: { message: "database password hunter2 rejected" },
      });
    });

    it("when the route is unknown, then the answer is 404", async () => {
      const res = await curl(["-H", "content-type: application/json", "-d", "{}", `${service}/NoSuchMethod`]);

      expect(res.status).toBe(404);
    });

    it("when the HTTP method is wrong, then the answer is 405 with an Allow header", async () => {
      const res = await curl(["-X", "PUT", "-H", "content-type: application/json", "-d", "{}", `${service}/ListScopes`]);

      expect(res.status).toBe(405);
      expect(res.headers).toContain("allow: post, get");
    });

    it("when the body is larger than maxMessageBytes, then the answer is resource_exhausted", async () => {
      const body = JSON.stringify({ key: "k".repeat(MAX_MESSAGE_BYTES) });
      const res = await curl(["-H", "content-type: application/json", "-d", body, `${service}/VerifyApiKey`]);

      expect(res.status).toBe(429);
      expect(JSON.parse(res.body)).toMatchObject({ code: "resource_exhausted" });
    });

    it("when the body is malformed, then the server answers the error and keeps serving", async () => {
      const badJson = await curl(["-H", "content-type: application/json", "-d", '{"key":', `${service}/VerifyApiKey`]);
      const badProto = await curl(["-H", "content-type: application/proto", "--data-binary", "\n\u0064A", `${service}/VerifyApiKey`]);
      const good = await curl(["-H", "content-type: application/json", "-d", '{"key":"ok"}', `${service}/VerifyApiKey`]);

      expect(JSON.parse(badJson.body)).toMatchObject({ code: "invalid_argument" });
      // connect-node's own answer is internal ("parse binary: premature EOF"); the listener reports
      // it as the client's mistake, as the gRPC port does, whatever routes it serves.
      expect(JSON.parse(badProto.body)).toMatchObject({ code: "invalid_argument", message: expect.stringContaining("premature EOF") });
      expect(JSON.parse(good.body)).toMatchObject({ valid: true, keyId: "key1" });
    });

    it("when a request carries a secret in the query and the authorization header, then the access log has neither", async () => {
      const url = `${service}/ListScopes?encoding=json&message=%7B%7D&api_key=ak_secret`;
      await curl(["-H", "authorization: Bearer tok_secret", url]);

      const access = lines().filter((l) => l.msg === "http request");
      expect(access.at(-1)).toMatchObject({ method: "GET", path: "/apikeys.v1.ApiKeyService/ListScopes", status: 200 });
      expect(JSON.stringify(access)).not.toMatch(/secret/);
    });
  });

  describe("gRPC on the HTTP port", () => {
    it("when grpc-js calls over h2c, then it gets the answer and error codes as on the gRPC port", async () => {
      const definition = protoLoader.loadSync("apikeys/v1/api_key_service.proto", { includeDirs: [path.resolve("proto")] });
      const v1 = (grpc.loadPackageDefinition(definition).apikeys as grpc.GrpcObject).v1 as grpc.GrpcObject;
      const Client = v1.ApiKeyService as grpc.ServiceClientConstructor;
      const client = new Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
      const call = (name: string, req: object) =>
        new Promise<{ error: grpc.ServiceError | null; response: unknown }>((resolve) => {
          const m = Client.service[name] as grpc.MethodDefinition<object, object>;
          client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, req, (error, response) =>
            resolve({ error, response }),
          );
        });

      const ok = await call("ListScopes", {});
      const bad = await call("VerifyApiKey", { key: "invalid" });
      const big = await call("VerifyApiKey", { key: "k".repeat(MAX_MESSAGE_BYTES) });
      client.close();

      expect(ok.response).toMatchObject({ scopes: SCOPES });
      expect([bad.error?.code, bad.error?.details]).toEqual([grpc.status.INVALID_ARGUMENT, "key is malformed"]);
      expect(big.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    });
  });

  describe("protocol sniffing", () => {
    it.each([
      ["HTTP/1.1", "1.1"],
      ["h2c", "2"],
    ] as const)("when the first bytes of a %s connection arrive one at a time, then the request is served", async (_name, httpVersion) => {
      const proxy = await startTricklingProxy(server.port);
      try {
        const transport = createConnectTransport({ baseUrl: `http://127.0.0.1:${proxy.port}`, httpVersion });
        const res = await createClient(ApiKeyService, transport).listScopes({});

        expect(res.scopes).toHaveLength(2);
      } finally {
        await proxy.close();
      }
    });

    it("when HTTP/1.1 requests are pipelined on one connection, then each is answered in order", async () => {
      const request = (key: string, extra = "") => {
        const body = JSON.stringify({ key });
        return `POST /apikeys.v1.ApiKeyService/VerifyApiKey HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${extra}content-length: ${body.length}\r\n\r\n${body}`;
      };
      const socket = net.connect(server.port, "127.0.0.1");
      // The last request asks the server to close the connection, which ends the read loop.
      socket.write(request("one") + request("invalid") + request("three", "connection: close\r\n"));
      const chunks: Buffer[] = [];
      for await (const chunk of socket) chunks.push(chunk as Buffer);
      const statuses = [...Buffer.concat(chunks).toString().matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);

      expect(statuses).toEqual(["200", "400", "200"]);
    });
  });
});

describe("HTTP listener shutdown", () => {
  it("when shutting down during HTTP/1.1 and h2c calls, then both finish, idle connections close and new ones are refused", async () => {
    let startedCount = 0;
    const bothStarted = waitFor();
    const server = await start(memoryLogger().log, createImpl({ started: () => ++startedCount === 2 && bothStarted.resolve() }));
    const baseUrl = `http://127.0.0.1:${server.port}`;
    const h1 = createClient(ApiKeyService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
    const h2 = createClient(ApiKeyService, createConnectTransport({ baseUrl, httpVersion: "2" }));
    // An idle keep-alive connection, which must not hold shutdown up.
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve) => http.get(`${baseUrl}/nothing`, { agent }, (res) => res.resume().on("end", resolve)));

    const calls = Promise.all([h1.verifyApiKey({ key: "slow" }), h2.verifyApiKey({ key: "slow" })]);
    await bothStarted.promise;
    const startedAt = performance.now();
    await server.shutdown();
    const shutdownMs = performance.now() - startedAt;
    const answers = await calls;
    const refused = await createClient(ApiKeyService, createConnectTransport({ baseUrl, httpVersion: "1.1" }))
      .listScopes({})
      .then(() => undefined, (e: unknown) => ConnectError.from(e));
    agent.destroy();

    expect(answers.map((a) => a.valid)).toEqual([true, true]);
    expect(shutdownMs).toBeLessThan(2_000);
    expect(refused?.code).toBe(Code.Unavailable);
  });

  it("when a call outlives the shutdown timeout, then shutdown still completes and the call is cut off", async () => {
    const started = waitFor();
    const aborted = waitFor();
    const server = await start(
      memoryLogger().log,
      createImpl({ started: () => started.resolve(), aborted: () => aborted.resolve() }),
      { shutdownTimeoutMs: 200 },
    );
    const client = createClient(ApiKeyService, createConnectTransport({ baseUrl: `http://127.0.0.1:${server.port}`, httpVersion: "2" }));

    const call = client.verifyApiKey({ key: "hang" }).then(() => undefined, (e: unknown) => ConnectError.from(e));
    await started.promise;
    await server.shutdown();
    await aborted.promise;

    // The HTTP/2 stream is reset when the session is destroyed.
    expect((await call)?.code).toBe(Code.Canceled);
  });
});

describe("HTTP listener with TLS", () => {
  let certificate: TestCertificate;
  let tls: { cert: Buffer; key: Buffer };
  beforeAll(async () => {
    certificate = await makeCertificate();
    tls = { cert: certificate.cert, key: certificate.key };
  });
  afterAll(() => certificate?.remove());

  it("when clients negotiate HTTP/2 or HTTP/1.1 by ALPN, then both are served", async () => {
    const server = await start(memoryLogger().log, createImpl(), { tls });
    const baseUrl = `https://127.0.0.1:${server.port}`;
    try {
      const viaH2 = createClient(ApiKeyService, createConnectTransport({ baseUrl, httpVersion: "2", nodeOptions: { ca: tls.cert } }));
      const viaH1 = createClient(ApiKeyService, createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { ca: tls.cert } }));

      const [a, b] = await Promise.all([viaH2.listScopes({}), viaH1.listScopes({})]);

      expect([a.scopes.length, b.scopes.length]).toEqual([2, 2]);
    } finally {
      await server.shutdown();
    }
  });
});
