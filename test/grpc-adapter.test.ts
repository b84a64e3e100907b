// The grpc-js listener, called with clients we did not write: @grpc/grpc-js with proto-loader,
// connect-node's gRPC transport and `buf curl` through reflection. The same implementation also
// runs on the connect-node listener, and both must answer identically.
import { execFile } from "node:child_process";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import type { DescService, Message } from "@bufbuild/protobuf";
import { FieldMaskSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  createClient,
  createContextKey,
  createContextValues,
  decodeBinaryHeader,
  encodeBinaryHeader,
} from "@connectrpc/connect";
import type { HandlerContext, Interceptor, ServiceImpl } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { service as healthDefinition } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCertificate } from "./support/certificate.js";
import { addConnectService, type AnswerCache } from "../contract/grpc-adapter.js";
import { requestHeaderValue } from "../contract/grpc-call-context.js";
import { ApiKeyService, VerificationStatus, VerifyApiKeyResponseSchema } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { startGrpcServer, type GrpcServer } from "../server/grpc-server.js";
import { startHttpServer, type HttpServer } from "../server/http-server.js";
import { createLogger, type Logger } from "../server/logger.js";

const BUF = path.resolve("node_modules/.bin/buf");
const MAX_MESSAGE_BYTES = 1024;
const SCOPES = [
  { name: "orders:read", description: "Read orders" },
  { name: "orders:write", description: "Create and change orders" },
];
const visits = createContextKey(0);

/** Log lines, for asserting what reached the log. */
function memoryLogger(): { log: Logger; lines: () => Array<Record<string, unknown>> } {
  const written: string[] = [];
  const log = createLogger("debug", {}, (line) => written.push(line));
  return { log, lines: () => written.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** A fixed ApiKeyService; VerifyApiKey's `key` picks the behaviour under test. */
function createImpl(hooks: { started?: () => void; aborted?: (reason: unknown) => void } = {}) {
  return {
    listScopes(_req, ctx) {
      ctx.responseHeader.set("x-served-by", "test");
      ctx.responseTrailer.set("x-trailer", "done");
      return { scopes: SCOPES };
    },
    async verifyApiKey(req, ctx) {
      switch (req.key) {
        case "invalid":
          throw new ConnectError("key is malformed", Code.InvalidArgument, { "x-error-meta": "yes" }, [
            { desc: FieldMaskSchema, value: { paths: ["key"] } },
          ]);
        case "crash":
          throw new Error("database password hunter2 rejected");
        case "context":
          return { scopes: describeContext(ctx) };
        case "header-values": {
          // One header at a time first (on the grpc-js port, read from metadata), then the Headers.
          const names = ["x-multi", "X-Mixed-Case", "x-trace-bin", "x-absent", "authorization"];
          const one = names.map((name) => requestHeaderValue(ctx, name));
          return { scopes: names.map((name, i) => JSON.stringify([name, one[i], ctx.requestHeader.get(name)])) };
        }
        case "wait-for-cancel":
          hooks.started?.();
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
          hooks.aborted?.(ctx.signal.reason);
          return {};
        case "slow":
          hooks.started?.();
          await new Promise((resolve) => setTimeout(resolve, 300));
          return { valid: true, status: VerificationStatus.VALID };
        default:
          return { valid: true, status: VerificationStatus.VALID, keyId: "key1", workspaceId: "ws1" };
      }
    },
  } satisfies Partial<ServiceImpl<typeof ApiKeyService>>;
}

// Everything an implementation can learn from its context, as strings to compare across listeners.
function describeContext(ctx: HandlerContext): string[] {
  const seen = ctx.values.get(visits);
  ctx.values.set(visits, seen + 1);
  const bin = ctx.requestHeader.get("x-trace-bin");
  return [
    `protocol=${ctx.protocolName}`,
    `method=${ctx.requestMethod}`,
    `path=${new URL(ctx.url).pathname}`,
    `service=${ctx.service.typeName}/${ctx.method.name}`,
    `custom=${ctx.requestHeader.get("x-custom")}`,
    `bin=${bin === null ? "" : Array.from(decodeBinaryHeader(bin)).join(",")}`,
    `timeout=${(ctx.timeoutMs() ?? 0) > 1000 && (ctx.timeoutMs() ?? 0) <= 5000}`,
    `visits=${seen}`,
    `aborted=${ctx.signal.aborted}`,
  ];
}

// A grpc-js client from proto-loader reading the .proto files: nothing of ours on the client side.
function loadGrpcClient(port: number) {
  const definition = protoLoader.loadSync("apikeys/v1/api_key_service.proto", {
    includeDirs: [path.resolve("proto")],
    defaults: true,
    enums: String,
  });
  const pkg = grpc.loadPackageDefinition(definition);
  const v1 = (pkg.apikeys as grpc.GrpcObject).v1 as grpc.GrpcObject;
  const Client = v1.ApiKeyService as grpc.ServiceClientConstructor;
  return { client: new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()), service: Client.service };
}

interface UnaryResult {
  response?: Record<string, unknown>;
  error?: grpc.ServiceError;
  header?: grpc.Metadata;
  trailer?: grpc.Metadata;
}

function callUnary(
  client: grpc.Client,
  method: grpc.MethodDefinition<object, object>,
  request: object,
  options: { metadata?: grpc.Metadata; onCall?: (call: grpc.ClientUnaryCall) => void; serialize?: (r: object) => Buffer } = {},
): Promise<UnaryResult> {
  return new Promise((resolve) => {
    const result: UnaryResult = {};
    const call = client.makeUnaryRequest(
      method.path,
      options.serialize ?? method.requestSerialize,
      method.responseDeserialize,
      request,
      options.metadata ?? new grpc.Metadata(),
      {},
      (error, response) => {
        if (error) result.error = error;
        else result.response = response as Record<string, unknown>;
      },
    );
    call.on("metadata", (header: grpc.Metadata) => (result.header = header));
    call.on("status", (status: grpc.StatusObject) => {
      result.trailer = status.metadata;
      resolve(result);
    });
    options.onCall?.(call);
  });
}

async function runBuf(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(BUF, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Binds `server` to a free port on 127.0.0.1. */
function bind(server: grpc.Server): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
}

function waitFor(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("gRPC listener (grpc-js adapter)", () => {
  const { log, lines } = memoryLogger();
  let server: GrpcServer;
  let httpServer: HttpServer;
  let grpcJs: ReturnType<typeof loadGrpcClient>;
  const started = waitFor();
  let abortReason: unknown;
  const aborted = waitFor();

  beforeAll(async () => {
    const impl = createImpl({
      started: () => started.resolve(),
      aborted: (reason) => {
        abortReason = reason;
        aborted.resolve();
      },
    });
    server = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      services: [{ service: ApiKeyService, impl }],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      log,
    });
    httpServer = await startHttpServer({
      host: "127.0.0.1",
      port: 0,
      routes: (router) => router.service(ApiKeyService, impl),
      maxMessageBytes: MAX_MESSAGE_BYTES,
      log,
    });
    grpcJs = loadGrpcClient(server.port);
  });

  afterAll(async () => {
    grpcJs?.client.close();
    await server?.shutdown();
    await httpServer?.shutdown();
  });

  const method = (name: string) => grpcJs.service[name] as grpc.MethodDefinition<object, object>;
  const connectClient = (port: number) =>
    createClient(ApiKeyService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));

  describe("ListScopes", () => {
    it("when called with grpc-js, then it returns the catalog with the headers and trailers the implementation set", async () => {
      const result = await callUnary(grpcJs.client, method("ListScopes"), {});

      expect(result.error).toBeUndefined();
      expect(result.response).toMatchObject({ scopes: SCOPES });
      expect(result.header?.get("x-served-by")).toEqual(["test"]);
      expect(result.trailer?.get("x-trailer")).toEqual(["done"]);
    });

    it("when called with buf curl, then reflection resolves the schema and the call succeeds", async () => {
      const url = `http://127.0.0.1:${server.port}/apikeys.v1.ApiKeyService/ListScopes`;
      const result = await runBuf(["curl", "--protocol", "grpc", "--http2-prior-knowledge", url]);

      expect(result.stderr).toBe("");
      expect(JSON.parse(result.stdout)).toEqual({ scopes: SCOPES });
    });
  });

  describe("VerifyApiKey", () => {
    it("when the implementation throws a ConnectError, then grpc-js sees the same code, message and a status details trailer", async () => {
      const result = await callUnary(grpcJs.client, method("VerifyApiKey"), { key: "invalid" });

      expect(result.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(result.error?.details).toBe("key is malformed");
      expect(result.trailer?.get("x-error-meta")).toEqual(["yes"]);
      expect(result.trailer?.get("grpc-status-details-bin")).toHaveLength(1);
    });

    it("when the implementation throws a ConnectError, then a Connect client gets what connect-node itself sends", async () => {
      const errors = await Promise.all(
        [server.port, httpServer.port].map((port) =>
          connectClient(port)
            .verifyApiKey({ key: "invalid" })
            .then(() => undefined, (err: unknown) => ConnectError.from(err)),
        ),
      );

      const [fromGrpcJs, fromConnectNode] = errors.map((error) => ({
        code: error?.code,
        message: error?.rawMessage,
        details: error?.findDetails(FieldMaskSchema).map((detail) => detail.paths),
        meta: error?.metadata.get("x-error-meta"),
      }));
      expect(fromGrpcJs).toEqual({ code: Code.InvalidArgument, message: "key is malformed", details: [["key"]], meta: "yes" });
      expect(fromGrpcJs).toEqual(fromConnectNode);
    });

    it("when the implementation throws anything else, then the client gets INTERNAL 'internal error' and the log gets the error", async () => {
      const result = await callUnary(grpcJs.client, method("VerifyApiKey"), { key: "crash" });

      expect(result.error?.code).toBe(grpc.status.INTERNAL);
      expect(result.error?.details).toBe("internal error");
      expect(JSON.stringify(result.trailer?.toJSON())).not.toContain("hunter2");
      const logged = lines().find((line) => line.msg === "rpc failed" && line.listener === "grpc");
      expect(logged).toMatchObject({
        rpc: "apikeys.v1.ApiKeyService/VerifyApiKey",
        error: { message: "database password hunter2 rejected" },
      });
    });

    it("when a method is not implemented, then both listeners answer UNIMPLEMENTED with Connect's message", async () => {
      const messages = await Promise.all(
        [server.port, httpServer.port].map((port) =>
          connectClient(port)
            .createApiKey({ name: "x" })
            .then(() => undefined, (err: unknown) => ConnectError.from(err)),
        ),
      );

      expect(messages.map((e) => [e?.code, e?.rawMessage])).toEqual([
        [Code.Unimplemented, "apikeys.v1.ApiKeyService.CreateApiKey is not implemented"],
        [Code.Unimplemented, "apikeys.v1.ApiKeyService.CreateApiKey is not implemented"],
      ]);
    });

    it("when called, then the implementation sees the same HandlerContext on both listeners", async () => {
      const call = (port: number) =>
        connectClient(port).verifyApiKey(
          { key: "context" },
          {
            timeoutMs: 5000,
            headers: { "X-Custom": "hello", "x-trace-bin": encodeBinaryHeader(new Uint8Array([1, 2, 3])) },
          },
        );
      const [viaGrpcJs, viaConnectNode] = await Promise.all([call(server.port), call(httpServer.port)]);
      const again = await call(server.port);

      expect(viaGrpcJs.scopes).toEqual([
        "protocol=grpc",
        "method=POST",
        "path=/apikeys.v1.ApiKeyService/VerifyApiKey",
        "service=apikeys.v1.ApiKeyService/VerifyApiKey",
        "custom=hello",
        "bin=1,2,3",
        "timeout=true",
        "visits=0",
        "aborted=false",
      ]);
      expect(viaGrpcJs.scopes).toEqual(viaConnectNode.scopes);
      expect(again.scopes).toContain("visits=0"); // context values are fresh per call
    });

    it("when grpc-js sends binary metadata, then the implementation reads it as connect-node would", async () => {
      const metadata = new grpc.Metadata();
      metadata.set("x-custom", "hi");
      metadata.set("x-trace-bin", Buffer.from([1, 2, 3]));

      const result = await callUnary(grpcJs.client, method("VerifyApiKey"), { key: "context" }, { metadata });

      expect(result.response?.scopes).toEqual(expect.arrayContaining(["custom=hi", "bin=1,2,3", "timeout=false"]));
    });

    it("when one header is read with requestHeaderValue, then it is what requestHeader.get gives, on both listeners", async () => {
      const metadata = new grpc.Metadata();
      metadata.add("x-multi", "one");
      metadata.add("x-multi", "two");
      metadata.set("x-mixed-case", "value");
      metadata.set("x-trace-bin", Buffer.from([1, 2, 3]));
      metadata.set("authorization", "Bearer abc");
      const result = await callUnary(grpcJs.client, method("VerifyApiKey"), { key: "header-values" }, { metadata });
      const seen = (result.response?.scopes as string[]).map((line) => JSON.parse(line) as [string, string | null, string | null]);
      expect(seen.map(([name, one]) => [name, one])).toEqual([
        ["x-multi", "one, two"],
        ["X-Mixed-Case", "value"],
        ["x-trace-bin", "AQID"],
        ["x-absent", null],
        ["authorization", "Bearer abc"],
      ]);
      for (const [, one, all] of seen) expect(one).toBe(all);

      const viaConnectNode = await connectClient(httpServer.port).verifyApiKey(
        { key: "header-values" },
        { headers: [["x-multi", "one"], ["x-multi", "two"], ["x-mixed-case", "value"], ["x-trace-bin", "AQID"], ["authorization", "Bearer abc"]] },
      );
      expect(viaConnectNode.scopes).toEqual(result.response?.scopes);
    });

    it("when the client cancels, then the implementation's signal is aborted with Canceled", async () => {
      const result = await callUnary(
        grpcJs.client,
        method("VerifyApiKey"),
        { key: "wait-for-cancel" },
        { onCall: (call) => void started.promise.then(() => call.cancel()) },
      );
      await aborted.promise;

      expect(result.error?.code).toBe(grpc.status.CANCELLED);
      expect(ConnectError.from(abortReason).code).toBe(Code.Canceled);
    });

    it("when the request is not valid protobuf, then INVALID_ARGUMENT says so and the server keeps serving", async () => {
      const garbage = Buffer.from([0x0a, 0x64, 0x41]); // field 1 claims 100 bytes, 1 follows

      const bad = await callUnary(grpcJs.client, method("VerifyApiKey"), {}, { serialize: () => garbage });
      const good = await callUnary(grpcJs.client, method("VerifyApiKey"), { key: "ok" });

      expect(bad.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(bad.error?.details).toMatch(/^cannot decode message apikeys\.v1\.VerifyApiKeyRequest from binary: /);
      expect(good.response).toMatchObject({ valid: true, keyId: "key1" });
    });

    it("when the request is larger than maxMessageBytes, then it is refused with RESOURCE_EXHAUSTED", async () => {
      const result = await callUnary(grpcJs.client, method("VerifyApiKey"), { key: "k".repeat(MAX_MESSAGE_BYTES + 1) });

      expect(result.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    });
  });

  describe("health and reflection", () => {
    it("when asked with the health client, then the server and each service are SERVING", async () => {
      const Health = grpc.makeGenericClientConstructor(healthDefinition, "Health");
      const client = new Health(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
      const check = (service: string) =>
        callUnary(client, healthDefinition.Check as grpc.MethodDefinition<object, object>, { service });

      const results = await Promise.all(["", "apikeys.v1.ApiKeyService", "nope.v1.Nope"].map(check));
      client.close();

      expect(results[0]?.response).toMatchObject({ status: "SERVING" });
      expect(results[1]?.response).toMatchObject({ status: "SERVING" });
      expect(results[2]?.error?.code).toBe(grpc.status.NOT_FOUND);
    });

    it("when buf curl lists services, then the API and health are there, and health answers through reflection", async () => {
      const base = `http://127.0.0.1:${server.port}`;
      const list = await runBuf(["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-services", base]);
      const health = await runBuf(["curl", "--protocol", "grpc", "--http2-prior-knowledge", `${base}/grpc.health.v1.Health/Check`]);

      expect(list.stdout.split("\n")).toEqual(expect.arrayContaining(["apikeys.v1.ApiKeyService", "grpc.health.v1.Health"]));
      expect(JSON.parse(health.stdout)).toEqual({ status: "SERVING" });
    });

    it("when buf curl gets an error with details, then it decodes code, message and the detail", async () => {
      const url = `http://127.0.0.1:${server.port}/apikeys.v1.ApiKeyService/VerifyApiKey`;
      const result = await runBuf(["curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", '{"key":"invalid"}', url]);

      expect(result.code).not.toBe(0);
      expect(JSON.parse(result.stderr)).toMatchObject({
        code: "invalid_argument",
        message: "key is malformed",
        details: [{ type: "google.protobuf.FieldMask", debug: "key" }],
      });
    });
  });
});

describe("gRPC listener shutdown", () => {
  it("when shutting down during a call, then the call finishes, shutdown completes and new calls fail", async () => {
    const started = waitFor();
    const server = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      services: [{ service: ApiKeyService, impl: createImpl({ started: () => started.resolve() }) }],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      log: memoryLogger().log,
    });
    const { client, service } = loadGrpcClient(server.port);
    const verify = service.VerifyApiKey as grpc.MethodDefinition<object, object>;

    const inFlight = callUnary(client, verify, { key: "slow" });
    await started.promise;
    await server.shutdown();
    const finished = await inFlight;
    const after = await callUnary(client, verify, { key: "ok" });
    client.close();

    expect(finished.error).toBeUndefined();
    expect(finished.response).toMatchObject({ valid: true });
    expect(after.error?.code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe("gRPC listener limits", () => {
  it("when a call outlives the shutdown timeout, then shutdown cancels it and the implementation sees its signal abort", async () => {
    const started = waitFor();
    const aborted = waitFor();
    const server = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      services: [{ service: ApiKeyService, impl: createImpl({ started: () => started.resolve(), aborted: () => aborted.resolve() }) }],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      log: memoryLogger().log,
      shutdownTimeoutMs: 200,
    });
    const { client, service } = loadGrpcClient(server.port);

    const call = callUnary(client, service.VerifyApiKey as grpc.MethodDefinition<object, object>, { key: "wait-for-cancel" });
    await started.promise;
    await server.shutdown();
    await aborted.promise;
    const result = await call;
    client.close();

    expect(result.error?.code).toBe(grpc.status.CANCELLED);
  });

  it("when the client's deadline passes, then the implementation's signal aborts and timeoutMs counted down", async () => {
    let remaining: number | undefined;
    const aborted = waitFor();
    const server = new grpc.Server();
    addConnectService(server, ApiKeyService, {
      async verifyApiKey(_req, ctx) {
        remaining = ctx.timeoutMs();
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
        aborted.resolve();
        return {};
      },
    });
    const port = await bind(server);
    const client = createClient(ApiKeyService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));

    const error = await client.verifyApiKey({}, { timeoutMs: 300 }).then(() => undefined, (e: unknown) => ConnectError.from(e));
    await aborted.promise;
    server.forceShutdown();

    expect(error?.code).toBe(Code.DeadlineExceeded);
    expect(remaining).toBeGreaterThan(0);
    expect(remaining).toBeLessThanOrEqual(300);
  });

  it("when TLS is configured, then a grpc-js client trusting the certificate is served", async () => {
    const certificate = await makeCertificate();
    try {
      const tls = { cert: certificate.cert, key: certificate.key };
      const server = await startGrpcServer({
        host: "127.0.0.1",
        port: 0,
        services: [{ service: ApiKeyService, impl: createImpl() }],
        tls,
        maxMessageBytes: MAX_MESSAGE_BYTES,
        log: memoryLogger().log,
      });
      const definition = protoLoader.loadSync("apikeys/v1/api_key_service.proto", { includeDirs: [path.resolve("proto")] });
      const v1 = (grpc.loadPackageDefinition(definition).apikeys as grpc.GrpcObject).v1 as grpc.GrpcObject;
      const Client = v1.ApiKeyService as grpc.ServiceClientConstructor;
      const client = new Client(`localhost:${server.port}`, grpc.credentials.createSsl(tls.cert));

      const result = await callUnary(client, Client.service.ListScopes as grpc.MethodDefinition<object, object>, {});
      client.close();
      await server.shutdown();

      expect(result.response).toMatchObject({ scopes: SCOPES });
    } finally {
      await certificate.remove();
    }
  });
});

describe("grpc-js adapter options", () => {
  it("when interceptors are given, then they run around the implementation as on a ConnectRouter", async () => {
    const requireAuth: Interceptor = (next) => async (req) => {
      if (req.header.get("authorization") !== "Bearer good") {
        throw new ConnectError("missing credentials", Code.Unauthenticated);
      }
      const res = await next(req);
      res.header.set("x-intercepted", "yes");
      return res;
    };
    const server = new grpc.Server();
    addConnectService(server, ApiKeyService, createImpl(), { interceptors: [requireAuth] });
    const port = await bind(server);
    const client = createClient(ApiKeyService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));

    let header: Headers | undefined;
    const ok = await client.listScopes({}, { headers: { authorization: "Bearer good" }, onHeader: (h) => (header = h) });
    const refused = await client.listScopes({}).then(() => undefined, (err: unknown) => ConnectError.from(err));
    server.forceShutdown();

    expect(ok.scopes).toHaveLength(2);
    expect(header?.get("x-intercepted")).toBe("yes");
    expect([refused?.code, refused?.rawMessage]).toEqual([Code.Unauthenticated, "missing credentials"]);
  });
  it("when a unary implementation answers or throws without a promise, then the client gets that answer or status", async () => {
    const server = new grpc.Server();
    addConnectService(server, ApiKeyService, {
      listScopes: () => ({ scopes: [SCOPES[0]!] }),
      verifyApiKey: () => {
        throw new ConnectError("not now", Code.FailedPrecondition);
      },
    });
    const port = await bind(server);
    const client = createClient(ApiKeyService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));

    const scopes = await client.listScopes({});
    const error = await client.verifyApiKey({}).then(() => undefined, (e: unknown) => ConnectError.from(e));
    server.forceShutdown();

    expect(scopes.scopes.map((s) => s.name)).toEqual(["orders:read"]);
    expect([error?.code, error?.rawMessage]).toEqual([Code.FailedPrecondition, "not now"]);
  });

  it("when the shutdown signal aborts, then running calls see it with its reason, and later calls at once", async () => {
    const shutdown = new AbortController();
    const started = waitFor();
    const server = new grpc.Server();
    addConnectService(
      server,
      ApiKeyService,
      {
        async verifyApiKey(_req, ctx) {
          started.resolve();
          if (!ctx.signal.aborted) await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
          throw ctx.signal.reason;
        },
      },
      { shutdownSignal: shutdown.signal },
    );
    const port = await bind(server);
    const client = createClient(ApiKeyService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
    const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => ConnectError.from(e));

    const running = failure(client.verifyApiKey({}));
    await started.promise;
    shutdown.abort(new ConnectError("the server is shutting down", Code.Unavailable));
    const later = await failure(client.verifyApiKey({}));
    server.forceShutdown();

    for (const error of [await running, later]) expect([error?.code, error?.rawMessage]).toEqual([Code.Unavailable, "the server is shutting down"]);
  });

  it("when contextValues is given, then each call's values start from it; and a signal read after the call is aborted", async () => {
    const tenant = createContextKey("none");
    const contexts: HandlerContext[] = [];
    const server = new grpc.Server();
    addConnectService(
      server,
      ApiKeyService,
      {
        listScopes(_req, ctx) {
          contexts.push(ctx);
          return { scopes: [{ name: ctx.values.get(tenant), description: ctx.requestHeader.get("x-tenant") ?? "" }] };
        },
      },
      { contextValues: (call) => createContextValues().set(tenant, `tenant-${String(call.metadata.get("x-tenant")[0])}`) },
    );
    const port = await bind(server);
    const client = createClient(ApiKeyService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));

    const answers = await Promise.all(["a", "b"].map((t) => client.listScopes({}, { headers: { "x-tenant": t } })));
    server.forceShutdown();

    expect(answers.map((a) => a.scopes[0])).toMatchObject([{ name: "tenant-a", description: "a" }, { name: "tenant-b", description: "b" }]);
    // The signal was never read during the calls; made afterwards, it is already aborted.
    expect(contexts.map((c) => [c.signal.aborted, ConnectError.from(c.signal.reason).rawMessage])).toEqual([
      [true, "the call has ended"],
      [true, "the call has ended"],
    ]);
  });
});

describe("grpc-js adapter answer cache", () => {
  const reusable = createContextKey(false);
  /** An answer cache keyed by the request's bytes; it keeps what the implementation marked reusable. */
  function bytesCache() {
    const kept = new Map<string, Buffer>();
    const lookups: string[] = [];
    const offers: Array<{ request: string; answer: Buffer; reusable: boolean }> = [];
    const cache: AnswerCache<{ request: string }> = {
      lookup: (_call, request) => {
        lookups.push(request.toString("hex"));
        return kept.get(request.toString("hex")) ?? { request: request.toString("hex") };
      },
      offer: (miss, answer, ctx) => {
        offers.push({ request: miss.request, answer, reusable: ctx.values.get(reusable) });
        if (ctx.values.get(reusable)) kept.set(miss.request, answer);
      },
    };
    return { cache, lookups, offers };
  }
  let runs = 0;
  const impl: Partial<ServiceImpl<typeof ApiKeyService>> = {
    verifyApiKey(req, ctx) {
      runs++;
      if (req.key === "keep") ctx.values.set(reusable, true);
      if (req.key === "with-header") ctx.responseHeader.set("x-note", "not kept");
      return { valid: true, keyId: `${req.key}-${runs}` };
    },
    listScopes: () => ({ scopes: SCOPES }),
  };
  const verify = (port: number) => {
    const client = createClient(ApiKeyService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
    return async (key: string) => (await client.verifyApiKey({ key })).keyId;
  };

  it("when a unary method has one, then a kept answer is sent again without running the implementation, and every other answer is offered encoded", async () => {
    runs = 0;
    const { cache, lookups, offers } = bytesCache();
    const server = new grpc.Server();
    addConnectService(server, ApiKeyService, impl, { answerCache: (method) => (method.name === "VerifyApiKey" ? cache : undefined) });
    const port = await bind(server);
    const call = verify(port);

    const answers = [await call("keep"), await call("keep"), await call("once"), await call("once"), await call("with-header")];
    const scopes = await createClient(ApiKeyService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` })).listScopes({});
    server.forceShutdown();

    // The second "keep" is the first one's answer; "once" was not marked, so it runs every time.
    expect(answers).toEqual(["keep-1", "keep-1", "once-2", "once-3", "with-header-4"]);
    expect(runs).toBe(4);
    expect(lookups).toHaveLength(5);
    // Offered: each answer computed, as the bytes sent, except the one with a response header.
    expect(offers.map((o) => [fromBinary(VerifyApiKeyResponseSchema, o.answer).keyId, o.reusable])).toEqual([
      ["keep-1", true],
      ["once-2", false],
      ["once-3", false],
    ]);
    expect(scopes.scopes).toHaveLength(2);
  });

  it("when a request that missed is not valid protobuf, then INVALID_ARGUMENT says so, and nothing is offered", async () => {
    const { cache, offers } = bytesCache();
    const server = new grpc.Server();
    addConnectService(server, ApiKeyService, impl, { answerCache: () => cache });
    const port = await bind(server);
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const garbage = Buffer.from([0x0a, 0x64, 0x41]); // field 1 claims 100 bytes, 1 follows

    const result = await callUnary(client, { path: "/apikeys.v1.ApiKeyService/VerifyApiKey", requestSerialize: () => garbage, responseDeserialize: (b: Buffer) => b } as never, {});
    const after = await verify(port)("keep");
    client.close();
    server.forceShutdown();

    expect(result.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(result.error?.details).toMatch(/^cannot decode message apikeys\.v1\.VerifyApiKeyRequest from binary: /);
    expect(after).toMatch(/^keep-/);
    expect(offers).toHaveLength(1);
  });

  it("when the answer cache fails, then the call is answered without it and the failure reported", async () => {
    runs = 0;
    const failures: string[] = [];
    const failing = (where: "lookup" | "offer"): AnswerCache => ({
      lookup: () => {
        if (where === "lookup") throw new Error("lookup failed");
        return {};
      },
      offer: () => {
        throw new Error("offer failed");
      },
    });
    const answers: string[] = [];
    for (const where of ["lookup", "offer"] as const) {
      const server = new grpc.Server();
      addConnectService(server, ApiKeyService, impl, {
        answerCache: () => failing(where),
        onError: (error, method) => failures.push(`${method.name}: ${(error as Error).message}`),
      });
      answers.push(await verify(await bind(server))("keep"));
      server.forceShutdown();
    }

    expect(answers).toEqual(["keep-1", "keep-2"]);
    expect(failures).toEqual(["VerifyApiKey: lookup failed", "VerifyApiKey: offer failed"]);
  });

  it("when interceptors are given, then the answer cache is not used: they see every call", async () => {
    const { cache, lookups } = bytesCache();
    const server = new grpc.Server();
    const seen: string[] = [];
    const interceptor: Interceptor = (next) => (req) => {
      seen.push(req.method.name);
      return next(req);
    };
    addConnectService(server, ApiKeyService, impl, { answerCache: () => cache, interceptors: [interceptor] });
    const port = await bind(server);
    const call = verify(port);

    await call("keep");
    await call("keep");
    server.forceShutdown();

    expect(seen).toEqual(["VerifyApiKey", "VerifyApiKey"]);
    expect(lookups).toEqual([]);
  });
});

describe("grpc-js adapter streaming", () => {
  // A service with every streaming kind, compiled from .proto by buf: nothing of ours involved.
  const PROTO = `syntax = "proto3";
package test.v1;
message Num { int32 value = 1; }
service StreamService {
  rpc Count(Num) returns (stream Num);
  rpc Sum(stream Num) returns (Num);
  rpc Echo(stream Num) returns (stream Num);
}
`;
  type Num = Message & { value: number };
  let dir: string;
  let service: DescService;
  let server: grpc.Server;
  let port: number;
  const cancelled = waitFor();
  let countAbortReason: unknown;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "grpc-adapter-"));
    await mkdir(path.join(dir, "test/v1"), { recursive: true });
    await writeFile(path.join(dir, "test/v1/stream.proto"), PROTO);
    const built = await runBuf(["build", dir, "--as-file-descriptor-set", "-o", path.join(dir, "set.binpb")]);
    expect(built.stderr).toBe("");
    const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, await readFile(path.join(dir, "set.binpb"))));
    service = registry.getService("test.v1.StreamService")!;
    const num = registry.getMessage("test.v1.Num")!;
    const impl = {
      async *count(req: Num, ctx: HandlerContext) {
        ctx.responseHeader.set("x-count", String(req.value));
        for (let i = 1; i <= req.value; i++) yield create(num, { value: i });
        if (req.value === 3) throw new ConnectError("stopped at three", Code.OutOfRange);
        if (req.value === 0) {
          yield create(num, { value: 0 });
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
          countAbortReason = ctx.signal.reason;
          cancelled.resolve();
        }
      },
      async sum(requests: AsyncIterable<Num>) {
        let total = 0;
        for await (const r of requests) total += r.value;
        return create(num, { value: total });
      },
      async *echo(requests: AsyncIterable<Num>) {
        for await (const r of requests) yield create(num, { value: r.value * 10 });
      },
    };
    server = new grpc.Server();
    // The implementation is typed against a descriptor loaded at runtime, so its message types are
    // only known to be Message; the cast states what the .proto above declares.
    addConnectService(server, service, impl as unknown as Partial<ServiceImpl<DescService>>);
    port = await bind(server);
  });

  afterAll(async () => {
    server?.forceShutdown();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const client = () => createClient(service, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` })) as unknown as {
    count(req: { value: number }, opts?: { onHeader?: (h: Headers) => void; signal?: AbortSignal }): AsyncIterable<Num>;
    sum(reqs: AsyncIterable<{ value: number }>): Promise<Num>;
    echo(reqs: AsyncIterable<{ value: number }>): AsyncIterable<Num>;
  };
  async function* nums(...values: number[]) {
    for (const value of values) yield { value };
  }
  async function collect(stream: AsyncIterable<Num>): Promise<number[]> {
    const values: number[] = [];
    for await (const n of stream) values.push(n.value);
    return values;
  }

  it("when a server stream completes, then every message arrives after the headers", async () => {
    let header: Headers | undefined;
    const values = await collect(client().count({ value: 2 }, { onHeader: (h) => (header = h) }));

    expect(values).toEqual([1, 2]);
    expect(header?.get("x-count")).toBe("2");
  });

  it("when a server stream fails midway, then the messages so far arrive and then the error", async () => {
    const values: number[] = [];
    const error = await (async () => {
      for await (const n of client().count({ value: 3 })) values.push(n.value);
    })().then(() => undefined, (err: unknown) => ConnectError.from(err));

    expect(values).toEqual([1, 2, 3]);
    expect([error?.code, error?.rawMessage]).toEqual([Code.OutOfRange, "stopped at three"]);
  });

  it("when the client abandons a server stream, then the implementation's signal is aborted", async () => {
    const abort = new AbortController();
    const reading = (async () => {
      for await (const n of client().count({ value: 0 }, { signal: abort.signal })) {
        if (n.value === 0) abort.abort();
      }
    })().then(() => undefined, (err: unknown) => ConnectError.from(err));
    await cancelled.promise;

    expect((await reading)?.code).toBe(Code.Canceled);
    expect(ConnectError.from(countAbortReason).code).toBe(Code.Canceled);
  }, 10_000);

  it("when a client stream ends, then the single answer covers every message", async () => {
    expect((await client().sum(nums(1, 2, 3, 4))).value).toBe(10);
  });

  it("when a bidi stream runs, then each message is answered in order", async () => {
    expect(await collect(client().echo(nums(1, 2, 3)))).toEqual([10, 20, 30]);
  });

  it("when decoding a request of a stream fails, then the call ends INVALID_ARGUMENT", async () => {
    const grpcClient = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const error = await new Promise<grpc.ServiceError | null>((resolve) => {
      const call = grpcClient.makeClientStreamRequest<Buffer, Buffer>(
        `/test.v1.StreamService/Sum`,
        (b) => b,
        (b) => b,
        (err) => resolve(err),
      );
      call.write(Buffer.from([0x08])); // a varint tag without its value
      call.end();
    });
    grpcClient.close();

    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).toMatch(/^cannot decode message test\.v1\.Num from binary: /);
  });
});
