// The HTTP port's lean path for the calls services make: unary Connect calls (POST, unary
// `application/json` or `application/proto`, request not compressed), answered on node:http and
// node:http2 directly. Measured on Node 24 (issue 16), connect-node spent most of such a call's CPU
// on its generic plumbing rather than on the call: async iterables over a body of one chunk, Fetch
// Headers built from Node's and back, a URL parsed twice, three AbortControllers and a deadline
// timer per call, and a DOMException built when the request's controller is aborted at its end.
// Here a call reads its body with two listeners, builds Headers, the URL and the signal only when
// the implementation reads them (as the gRPC port's GrpcCallContext does), and writes its answer
// with one writeHead and one end (HTTP/1.1 then sends head and JSON body in one write).
//
// It serves every unary method registered on the router, from the descriptors, not VerifyApiKey
// alone: the cost per method is one map entry, and one path for every unary call means one set of
// behaviours to keep equal to connect-node's. Equal, because what decides an answer is connect's
// own code: its content-type, timeout, size-limit and compression rules, its JSON and binary
// serialization (with our jsonOptions: strict UTF-8, unknown fields refused), its error JSON and
// HTTP status mapping, and the same service implementation behind the same RPC boundary.
// test/connect-unary.test.ts sends each request through both paths and compares the answers.
// Anything else is left to connect-node untouched: GET, streaming, gRPC and gRPC-Web, compressed
// requests, an unparseable connect-timeout-ms, a content-length over the limit, routes registered
// with their own options.
import * as http from "node:http";
import * as http2 from "node:http2";
import { create, toJsonString, type DescMethod, type DescService, type Message } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createMethodImplSpec,
  createServiceImplSpec,
  type ConnectRouter,
  type MethodImplSpec,
} from "@connectrpc/connect";
import {
  compressionNegotiate,
  createMethodSerializationLookup,
  type createClientMethodSerializers,
  getJsonOptions,
  mergeNonProtocolHeaders,
  validateUniversalHandlerOptions,
  type Compression,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  contentTypeUnaryJson,
  contentTypeUnaryProto,
  contentTypeUnaryRegExp,
  errorToJsonBytes,
  parseContentType,
  parseTimeout,
  trailerMux,
} from "@connectrpc/connect/protocol-connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { LazyCallContext, type AbortCall } from "../contract/lazy-call-context.js";
import { CallValues, type HeaderReader } from "../contract/grpc-call-context.js";
import { decodeFailureAsInvalidArgument } from "./decode-errors.js";
import type { RpcSpan, Tracing } from "./tracing/tracing.js";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;
type UnarySpec = Extract<MethodImplSpec, { kind: "unary" }>;
type JsonOptions = NonNullable<Parameters<typeof createClientMethodSerializers>[2]>;

export interface ConnectUnaryOptions {
  /** Largest request body accepted, as connect-node's readMaxBytes. */
  readonly readMaxBytes: number;
  /** The JSON options connect-node is given. */
  readonly jsonOptions: JsonOptions;
  /** Receives what an implementation threw that is not a ConnectError (the client gets "internal error"). */
  readonly onInternalError: (error: unknown, method: DescMethod) => void;
  /** A server span for every call, when traces are on. */
  readonly tracing?: Tracing;
}

export interface ConnectUnary {
  /** A router that registers on `router` and remembers every unary method registered without options. */
  recording(router: ConnectRouter): ConnectRouter;
  /** Answers the request and returns true when it is a call this path takes; else touches nothing and returns false. */
  handle(req: Request, res: Response, path: string): boolean;
}

interface Route {
  readonly spec: UnarySpec;
  readonly serialization: ReturnType<typeof createMethodSerializationLookup>;
}

/** Creates the lean unary Connect path (see the top of this file). */
export function createConnectUnary(options: ConnectUnaryOptions): ConnectUnary {
  // connect-node's own defaults (compression, compressMinBytes, writeMaxBytes, maxTimeoutMs).
  const opt = validateUniversalHandlerOptions({
    readMaxBytes: options.readMaxBytes,
    jsonOptions: options.jsonOptions,
    acceptCompression: [compressionGzip, compressionBrotli],
  });
  const jsonWrite = getJsonOptions(options.jsonOptions);
  const routes = new Map<string, Route>();
  const add = (spec: MethodImplSpec) => {
    const path = `/${spec.method.parent.typeName}/${spec.method.name}`;
    if (spec.kind !== "unary") return void routes.delete(path);
    routes.set(path, { spec, serialization: createMethodSerializationLookup(spec.method, opt.binaryOptions, opt.jsonOptions, opt) });
  };

  const recording = (router: ConnectRouter): ConnectRouter => {
    const recorder = {
      get handlers() {
        return router.handlers;
      },
      service(service: DescService, impl: object, routeOptions?: object) {
        router.service(service, impl, routeOptions);
        if (routeOptions === undefined) for (const spec of Object.values(createServiceImplSpec(service, impl).methods)) add(spec);
        else for (const method of service.methods) routes.delete(`/${service.typeName}/${method.name}`);
        return recorder;
      },
      rpc(method: DescMethod, impl: never, routeOptions?: object) {
        router.rpc(method, impl, routeOptions);
        if (routeOptions === undefined) add(createMethodImplSpec(method, impl));
        else routes.delete(`/${method.parent.typeName}/${method.name}`);
        return recorder;
      },
    };
    return recorder as unknown as ConnectRouter;
  };

  const handle = (req: Request, res: Response, path: string): boolean => {
    if (req.method !== "POST") return false;
    const route = routes.get(path);
    if (route === undefined) return false;
    const headers = req.headers;
    const contentType = headers["content-type"];
    if (contentType === undefined || !contentTypeUnaryRegExp.test(contentType)) return false;
    const encoding = headers["content-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    const timeout = parseTimeout(headerValue(headers["connect-timeout-ms"]), opt.maxTimeoutMs);
    if (timeout.error) return false;
    let length: number | undefined;
    if (headers["content-length"] !== undefined) {
      length = Number(headers["content-length"]);
      if (!Number.isSafeInteger(length) || length < 0 || length > opt.readMaxBytes) return false;
    }
    const authority = "authority" in req ? req.authority : headers.host;
    if (authority === undefined) return false;

    const binary = parseContentType(contentType)?.binary === true;
    const accepted = headerValue(headers["accept-encoding"]);
    const compression = accepted === null ? null : compressionNegotiate(opt.acceptCompression, null, accepted, "accept-encoding").response;
    const ctx = new ConnectUnaryContext(route.spec.method, req, res, authority, timeout.timeoutMs, binary ? contentTypeUnaryProto : contentTypeUnaryJson);
    const span = options.tracing?.startRpc(route.spec.method, "connect_rpc", (name) => headerValue(headers[name]) ?? undefined);
    const call = new UnaryCall(route, ctx, res, binary, compression, opt, options, jsonWrite, span);
    readBody(req, opt.readMaxBytes, length, (error, body) => {
      if (error) {
        // The rest of the body is not read: the connection cannot carry another request (HTTP/1.1),
        // and the client is told to stop sending once the answer is out (HTTP/2), as connect-node does.
        if (res instanceof http.ServerResponse) res.setHeader("connection", "close");
        else stopStreamAfterAnswer(res.stream);
        call.fail(error);
      } else call.run(body!);
    });
    return true;
  };
  return { recording, handle };
}

/** One call on the lean path, from its request body to its answer. */
class UnaryCall {
  constructor(
    readonly route: Route,
    readonly ctx: ConnectUnaryContext,
    readonly res: Response,
    readonly binary: boolean,
    readonly compression: Compression | null,
    readonly opt: ReturnType<typeof validateUniversalHandlerOptions>,
    readonly options: ConnectUnaryOptions,
    readonly jsonWrite: JsonOptions,
    readonly span: RpcSpan | undefined,
  ) {}

  run(body: Uint8Array): void {
    let answer: unknown;
    try {
      const input = this.route.serialization.getI(this.binary).parse(body);
      const { spec } = this.route;
      answer = this.span ? this.span.run(() => spec.impl(input as never, this.ctx)) : spec.impl(input as never, this.ctx);
    } catch (err) {
      return this.fail(err);
    }
    if (answer instanceof Promise) answer.then((init: unknown) => this.ok(init), (err: unknown) => this.fail(err));
    else this.ok(answer);
  }

  ok(init: unknown): void {
    const { method } = this.ctx;
    let body: string | Uint8Array;
    try {
      const message = create(method.output, init as never) as Message;
      if (this.binary) body = this.route.serialization.getO(true).serialize(message);
      else if (this.options.jsonOptions.textEncoder === undefined) {
        // A string, so that node:http writes the head and the body in one write.
        try {
          body = toJsonString(method.output, message, this.jsonWrite);
        } catch (err) {
          throw ConnectError.from(err, Code.Internal);
        }
      } else body = this.route.serialization.getO(false).serialize(message);
    } catch (err) {
      return this.fail(err);
    }
    this.span?.end(0);
    this.ctx.end();
    this.send(200, body, undefined);
  }

  fail(err: unknown): void {
    if (!(err instanceof ConnectError)) this.options.onInternalError(err, this.ctx.method);
    const error = decodeFailureAsInvalidArgument(err instanceof ConnectError ? err : new ConnectError("internal error", Code.Internal, undefined, undefined, err));
    this.span?.end(error.code);
    this.ctx.end();
    const header = this.ctx.responseHeader;
    header.set("content-type", contentTypeUnaryJson);
    // Metadata of an error parsed from the wire is not relayed, as connect does.
    if (!error.isWireError) mergeNonProtocolHeaders(header, error.metadata);
    this.send(codeToHttpStatus(error.code), errorToJsonBytes(error, this.opt.jsonOptions), header);
  }

  send(status: number, body: string | Uint8Array, header: Headers | undefined): void {
    const { compression, res } = this;
    const length = typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
    if (compression && length >= this.opt.compressMinBytes) {
      const bytes = typeof body === "string" ? Buffer.from(body) : body;
      compression.compress(bytes).then(
        (compressed) => {
          const h = header ?? this.ctx.responseHeader;
          h.set("content-encoding", compression.name);
          this.write(status, compressed, compressed.byteLength, h);
        },
        (err: unknown) => res.destroy(err instanceof Error ? err : undefined),
      );
      return;
    }
    this.write(status, body, length, header ?? this.ctx.responseHeaderIfUsed);
  }

  write(status: number, body: string | Uint8Array, length: number, header: Headers | undefined): void {
    const { res, ctx } = this;
    if (res.destroyed) return; // the client went away meanwhile
    const trailer = ctx.responseTrailerIfUsed;
    let nodeHeaders: http.OutgoingHttpHeaders;
    if (header === undefined && trailer === undefined) {
      nodeHeaders = { "content-type": ctx.contentType, "content-length": String(length) };
    } else {
      const all = trailerMux(header ?? ctx.responseHeader, trailer ?? new Headers());
      all.set("content-length", String(length));
      nodeHeaders = toNodeHeaders(all, (error) => this.options.onInternalError(error, ctx.method));
    }
    (res as http.ServerResponse).writeHead(status, nodeHeaders);
    (res as http.ServerResponse).end(body);
  }
}

/**
 * Reads a request body of at most `limit` bytes, with connect's errors: RESOURCE_EXHAUSTED past
 * the limit, INVALID_ARGUMENT when it does not match its content-length. Calls `done` once, unless
 * the request fails (the client went away: there is nobody to answer).
 */
function readBody(req: Request, limit: number, length: number | undefined, done: (error: ConnectError | undefined, body?: Uint8Array) => void): void {
  const chunks: Buffer[] = [];
  let received = 0;
  const finish = (error: ConnectError | undefined, body?: Uint8Array) => {
    req.off("data", onData);
    req.off("end", onEnd);
    req.off("error", onError);
    done(error, body);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.byteLength;
    if (length !== undefined && received > length) finish(new ConnectError(`protocol error: promised ${length} bytes, received ${received}`, Code.InvalidArgument));
    else if (received > limit) finish(new ConnectError(`message size is larger than configured readMaxBytes ${limit}`, Code.ResourceExhausted));
    else chunks.push(chunk);
  };
  const onEnd = () => {
    if (length !== undefined && received < length) finish(new ConnectError(`protocol error: promised ${length} bytes, received ${received}`, Code.InvalidArgument));
    else finish(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
  };
  const onError = () => {
    req.off("data", onData);
    req.off("end", onEnd);
  };
  req.on("data", onData);
  req.on("end", onEnd);
  req.once("error", onError);
}

/** Resets the stream with NO_ERROR once its answer is sent, if the client is still sending (as connect-node does). */
function stopStreamAfterAnswer(stream: http2.ServerHttp2Stream): void {
  // Node sends trailers on setImmediate after wantTrailers; resetting earlier would drop them.
  stream.once("wantTrailers", () =>
    setImmediate(() => {
      if (!stream.destroyed && stream.state.remoteClose === 0) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    }),
  );
}

/**
 * The HandlerContext of one call on the lean path: what connect-node's createHandlerContext gives,
 * each part made when first read (see contract/lazy-call-context.ts).
 */
class ConnectUnaryContext extends LazyCallContext implements HeaderReader {
  readonly protocolName = "connect";
  readonly #deadline: number | undefined;
  #requestHeader: Headers | undefined;

  constructor(
    method: DescMethod,
    private readonly req: Request,
    private readonly res: Response,
    private readonly authority: string,
    timeoutMs: number | undefined,
    /** The content type of a successful answer. */
    readonly contentType: string,
  ) {
    super(method, new CallValues());
    this.#deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
  }

  timeoutMs(): number | undefined {
    return this.#deadline === undefined ? undefined : this.#deadline - Date.now();
  }

  get url(): string {
    const encrypted = "encrypted" in this.req.socket && this.req.socket.encrypted === true;
    return new URL(this.req.url ?? "", `${encrypted ? "https" : "http"}://${this.authority}`).toString();
  }

  get requestHeader(): Headers {
    return (this.#requestHeader ??= nodeHeadersToWeb(this.req.headers));
  }

  /** `requestHeader.get(name)`, read from Node's headers without building the Headers. */
  requestHeaderValue(name: string): string | null {
    if (this.#requestHeader || name.startsWith(":")) return this.requestHeader.get(name);
    return headerValue(this.req.headers[name.toLowerCase()]);
  }

  protected override initialResponseHeader(): Headers {
    return new Headers({ "content-type": this.contentType });
  }

  /** The client goes away, or the deadline passes. */
  protected watch(abort: AbortCall): () => void {
    const onClose = () => abort(new ConnectError("the client closed the request", Code.Canceled));
    const onDeadline = () => abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
    const left = this.timeoutMs();
    const timer = left === undefined ? undefined : setTimeout(onDeadline, Math.max(0, left));
    this.res.once("close", onClose);
    if (this.res.destroyed) onClose();
    return () => {
      clearTimeout(timer);
      this.res.off("close", onClose);
    };
  }
}

/** A header of Node's as Headers.get gives it: repeats joined with ", ". */
function headerValue(value: string | string[] | number | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(", ") : String(value);
}

/** Node's request headers as Fetch Headers, as connect-node converts them (HTTP/2 pseudo-headers left out). */
function nodeHeadersToWeb(headers: http.IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(name, v);
    else out.append(name, value);
  }
  return out;
}

/**
 * Fetch Headers as Node's outgoing headers; repeats (set-cookie) as arrays. Headers takes values
 * that Node refuses (control characters), and writeHead would then throw out of the call, ending
 * the process: such a header is dropped and reported, and the call answered, as the gRPC port does.
 */
function toNodeHeaders(headers: Headers, report: (error: Error) => void): http.OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  headers.forEach((value, name) => {
    try {
      http.validateHeaderValue(name, value);
    } catch (err) {
      return report(new Error(`dropped response header "${name}"`, { cause: err }));
    }
    const seen = out[name];
    out[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  });
  return out;
}
