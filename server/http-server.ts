// The HTTP port (connect-node): Connect JSON and binary, gRPC-Web and gRPC for admins and browsers.
// Without TLS it speaks HTTP/1.1 and h2c (prior knowledge) on one port: Node's plain-text HTTP/2
// server ignores allowHTTP1, so each connection is sniffed for the HTTP/2 preface first.
import * as http from "node:http";
import * as http2 from "node:http2";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { ConnectError } from "@connectrpc/connect";
import type { createClientMethodSerializers } from "@connectrpc/connect/protocol";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import "../contract/protobuf-text-encoding.js";
import { createConnectUnary } from "./connect-unary.js";
import { withDeadline } from "./deadline-race.js";
import { reportDecodeErrorsAsInvalidArgument } from "./decode-errors.js";
import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS, type ListenerOptions } from "./listener-options.js";
import type { Logger } from "./logger.js";
import { repeatedHeaderValues } from "./repeated-headers.js";
import { strictJsonDecoder } from "./strict-json-decoder.js";
import { rpcSpanInterceptor } from "./tracing/connect-spans.js";

export interface HttpServerOptions extends ListenerOptions {
  readonly routes: (router: ConnectRouter) => void;
  /** Plain HTTP routes (OpenID Connect sign-in), asked in order before connect-node. */
  readonly plainHandlers?: readonly PlainHandler[];
  /**
   * Whether unary Connect calls take the lean path (connect-unary.ts); default true. false sends
   * every call through connect-node, the reference test/connect-unary.test.ts compares it with.
   */
  readonly connectUnary?: boolean;
}

/** A plain HTTP handler asked before connect-node: returns true when it took the request. */
export type PlainHandler = (req: Request, res: Response) => boolean;

export interface HttpServer {
  readonly port: number;
  /** Stops accepting, lets in-flight requests finish (bounded), closes every connection. Idempotent. */
  shutdown(): Promise<void>;
}

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
// A connection that has not shown its protocol by then (or the idle timeout, if shorter) is dropped.
const SNIFF_TIMEOUT_MS = 10_000;
/** How long an HTTP/1.1 connection is kept open after its last answer: node's http.Server default. */
const HTTP1_KEEP_ALIVE_MS = 5_000;

export type Request = http.IncomingMessage | http2.Http2ServerRequest;
export type Response = http.ServerResponse | http2.Http2ServerResponse;

const JSON_OPTIONS: NonNullable<Parameters<typeof createClientMethodSerializers>[2]> = {
  // Protobuf JSON's own default: a misspelt field ("nmae") is an error, not silently dropped.
  // Responses spell out empty and false values ("valid": false, "apiKeys": []) for curl users.
  ignoreUnknownFields: false,
  alwaysEmitImplicit: true,
  // Bodies that are not Unicode text (invalid UTF-8, unpaired surrogate escapes) are refused.
  // connect hands jsonOptions to its JSON serialization, which takes a textDecoder, although the
  // handler options' type does not list it (tested in test/bad-input-text.test.ts).
  textDecoder: strictJsonDecoder,
};

/** Starts the connect-node listener. */
export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const log = opts.log.child({ listener: "http" });
  const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  let router: ConnectRouter | undefined;
  // Unary Connect calls take the lean path (connect-unary.ts); everything else goes to connect-node.
  const leanUnary = opts.connectUnary ?? true;
  const unary = createConnectUnary({
    readMaxBytes: opts.maxMessageBytes,
    jsonOptions: JSON_OPTIONS,
    onInternalError: (error, method) => log.error("rpc failed", { rpc: `${method.parent.typeName}/${method.name}`, error }),
    tracing: opts.tracing,
  });
  const handler = connectNodeAdapter({
    routes: (r) => {
      opts.routes(unary.recording(r));
      // After the routes, so that every handler is wrapped; the lean path answers the same way.
      reportDecodeErrorsAsInvalidArgument(r);
      router = r;
    },
    readMaxBytes: opts.maxMessageBytes,
    jsonOptions: JSON_OPTIONS,
    // The span's interceptor goes first, so that it sees the error the client is sent.
    interceptors: opts.tracing ? [rpcSpanInterceptor(opts.tracing), logInternalErrors(log)] : [logInternalErrors(log)],
  });
  const allowed = new Map<string, string[]>();
  for (const h of router?.handlers ?? []) allowed.set(h.requestPath, h.allowedMethods);

  const inFlight = new Set<Response>();
  const h1Active = new Map<Socket, number>(); // HTTP/1 connection → requests in progress
  const sockets = new Set<Socket>(); // connections that carry requests (TLS sockets under TLS)
  const rawSockets = new Set<Socket>(); // every TCP connection, including TLS handshakes in progress
  const h2Sockets = new WeakSet<Socket>();
  const sessions = new Set<http2.Http2Session>();
  let closing = false;
  let drained: (() => void) | undefined;

  const onRequest = (req: Request, res: Response) => {
    const started = performance.now();
    const path = (req.url ?? "").split("?", 1)[0] ?? "";
    const h1Socket = req.httpVersionMajor === 1 ? (req.socket as Socket) : undefined;
    inFlight.add(res);
    if (h1Socket) h1Active.set(h1Socket, (h1Active.get(h1Socket) ?? 0) + 1);
    if (h1Socket && closing) res.setHeader("connection", "close");
    // Plain HTTP/1.1 requests are bounded by the http.Server's requestTimeout; the rest (HTTP/2,
    // and HTTP/1.1 over TLS, which the http2 server takes) by this.
    const bodyTimer = h1Socket && !opts.tls ? undefined : boundRequestBody(req, requestTimeoutMs, log);
    let lean = false;
    res.once("close", () => {
      clearTimeout(bodyTimer);
      inFlight.delete(res);
      if (h1Socket) {
        const left = (h1Active.get(h1Socket) ?? 1) - 1;
        if (left > 0) h1Active.set(h1Socket, left);
        else h1Active.delete(h1Socket);
        if (closing && left === 0) h1Socket.end();
      }
      // Never the query (Connect GET carries the request message there) nor any header.
      log.debug("http request", {
        method: req.method,
        path,
        status: res.statusCode,
        httpVersion: req.httpVersion,
        handler: lean ? "connect-unary" : "connect-node",
        ms: Math.round((performance.now() - started) * 10) / 10,
      });
      if (inFlight.size === 0) drained?.();
    });
    // connect-node throws for a request that names no host (HTTP/1.0 may omit Host; node requires
    // it only of HTTP/1.1), or one no URL can hold ("a b", "", "x:99999": node takes any value):
    // a client's mistake, which would otherwise be answered 500 and logged as a server error.
    const authority = "authority" in req ? req.authority : req.headers.host;
    if (authority === undefined || !URL.canParse(`http://${authority}`)) {
      answerPlain(res, 400, "Send a Host header naming this server (a host name or address, and a port if any).\n");
      return;
    }
    try {
      for (const plain of opts.plainHandlers ?? []) if (plain(req, res)) return;
      // connect-node answers 405 without an Allow header (RFC 9110 requires one).
      const methods = allowed.get(path);
      if (methods && !methods.includes(req.method ?? "")) {
        res.statusCode = 405;
        res.setHeader("allow", methods.join(", "));
        res.setHeader("content-length", "0");
        res.end();
        return;
      }
      keepEveryAuthorization(req);
      if (leanUnary && unary.handle(req, res, path)) lean = true;
      else handler(req, res);
    } catch (err) {
      // Whatever a handler throws before answering costs this request, never the listener.
      log.error("http request failed before it was answered", { path, error: err instanceof Error ? err.message : String(err) });
      if (!res.headersSent) answerPlain(res, 500, "The server could not handle this request.\n");
      else res.destroy();
    }
  };

  // A TLS handshake gets the sniffer's bound (node's default is two minutes).
  const h2 = opts.tls
    ? http2.createSecureServer({ cert: opts.tls.cert, key: opts.tls.key, allowHTTP1: true, handshakeTimeout: Math.min(SNIFF_TIMEOUT_MS, idleTimeoutMs) }, onRequest)
    : http2.createServer({}, onRequest);
  h2.on("session", (session: http2.Http2Session) => {
    sessions.add(session);
    const stopIdleTimer = closeWhenIdle(session, idleTimeoutMs);
    session.once("close", () => {
      sessions.delete(session);
      stopIdleTimer();
    });
    if (closing) session.close();
  });
  h2.on("sessionError", (err) => log.debug("http/2 session error", { error: err }));

  let listener: http.Server | http2.Http2SecureServer;
  if (opts.tls) {
    listener = h2 as http2.Http2SecureServer;
    // The http2 server serves HTTP/1.1 over TLS itself; Node 24 gives it an http.Server's 5 s
    // keep-alive timeout, older releases none (an idle keep-alive connection stayed open for good).
    Object.assign(listener, { keepAliveTimeout: HTTP1_KEEP_ALIVE_MS });
    listener.on("connection", (socket: Socket) => track(rawSockets, socket));
    listener.on("secureConnection", (socket: TLSSocket) => {
      track(sockets, socket);
      if (socket.alpnProtocol === "h2") h2Sockets.add(socket);
      // An HTTP/1.1 connection that never sends a request is closed like an idle HTTP/2 one
      // (HTTP/2 sessions have their own idle timer; a request's body has its own bound).
      else socket.setTimeout(idleTimeoutMs, () => socket.destroy());
    });
  } else {
    // The HTTP/1 server is the listener, so that its own connection tracking, headersTimeout and
    // requestTimeout apply; only its connection handler is put behind the sniffer.
    // connectionsCheckingInterval: how often Node looks for requests past their timeout.
    const h1 = http.createServer(
      { requestTimeout: requestTimeoutMs, headersTimeout: requestTimeoutMs, connectionsCheckingInterval: Math.min(30_000, Math.max(10, requestTimeoutMs / 10)) },
      onRequest,
    );
    const h1ConnectionListeners = h1.listeners("connection") as Array<(socket: Socket) => void>;
    h1.removeAllListeners("connection");
    h1.on("connection", (socket: Socket) => {
      track(sockets, socket);
      track(rawSockets, socket);
      sniffProtocol(socket, Math.min(SNIFF_TIMEOUT_MS, idleTimeoutMs), (protocol) => {
        if (protocol === undefined) return socket.destroy();
        if (protocol === "h2") {
          h2Sockets.add(socket);
          // The socket was accepted by the http.Server, which keeps a connection half open after
          // the client's FIN (it answers first, then closes); node:http2 relies on its own
          // server's default instead, and would leave the connection in CLOSE_WAIT forever.
          socket.allowHalfOpen = false;
          return h2.emit("connection", socket);
        }
        for (const listener of h1ConnectionListeners) listener.call(h1, socket);
        socket.resume();
      });
    });
    listener = h1;
  }

  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(opts.port, opts.host, () => {
      listener.off("error", reject);
      resolve();
    });
  });
  listener.on("error", (err) => log.error("http listener error", { error: err }));
  const address = listener.address();
  const port = typeof address === "object" && address ? address.port : opts.port;

  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      closing = true;
      const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
      for (const session of sessions) session.close(); // GOAWAY: open streams finish, no new ones
      for (const socket of sockets) {
        if (!h2Sockets.has(socket) && !h1Active.has(socket)) socket.destroy(); // idle keep-alive or sniffing
      }
      for (const res of inFlight) {
        if (res instanceof http.ServerResponse && !res.headersSent) res.setHeader("connection", "close");
      }
      const deadline = performance.now() + (opts.shutdownTimeoutMs ?? 10_000);
      const drain = new Promise<void>((resolve) => {
        drained = resolve;
        if (inFlight.size === 0) resolve();
      });
      const finished = await within(deadline, drain);
      // Answered connections now end by themselves (Connection: close, GOAWAY); waiting for that
      // lets the last responses flush instead of being cut off by destroy().
      if (finished) await within(deadline, Promise.all([...sockets].map(whenClosed)));
      else log.warn("in-flight requests did not finish in time; closing connections");
      for (const session of sessions) session.destroy();
      for (const socket of [...sockets, ...rawSockets]) socket.destroy();
      await closed;
    })();
    return stopping;
  };
  return { port, shutdown };
}

/** Resolves true when `promise` settles before `deadline` (a performance.now() time), else false. */
async function within(deadline: number, promise: Promise<unknown>): Promise<boolean> {
  return (await withDeadline(promise.then(() => true), deadline - performance.now())) === true;
}

function whenClosed(socket: Socket): Promise<void> {
  return socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once("close", () => resolve()));
}

function track(sockets: Set<Socket>, socket: Socket): void {
  sockets.add(socket);
  socket.once("close", () => sockets.delete(socket));
}

/**
 * Reads until the first bytes tell the HTTP/2 connection preface from anything else (HTTP/1.x),
 * then puts the bytes back for the server that takes the socket. Calls `decide` exactly once,
 * synchronously in the read that decided, so no data event is lost; `undefined` means the peer
 * went away or stayed silent.
 */
export function sniffProtocol(socket: Socket, timeoutMs: number, decide: (protocol: "h2" | "http/1.1" | undefined) => void): void {
  let head: Buffer = Buffer.alloc(0);
  const finish = (protocol: "h2" | "http/1.1" | undefined) => {
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("end", onGone);
    socket.off("close", onGone);
    socket.off("error", onGone);
    if (protocol !== undefined) {
      socket.pause();
      socket.unshift(head);
    }
    decide(protocol);
  };
  const onData = (chunk: Buffer) => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const n = Math.min(head.length, H2_PREFACE.length);
    if (!head.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) finish("http/1.1");
    else if (head.length >= H2_PREFACE.length) finish("h2");
  };
  const onGone = () => finish(undefined);
  const timer = setTimeout(onGone, timeoutMs);
  socket.on("data", onData);
  socket.once("end", onGone);
  socket.once("close", onGone);
  socket.once("error", onGone);
}

/** Closes `session` (GOAWAY) once it has had no open stream for `idleMs`; returns a stop function. */
function closeWhenIdle(session: http2.Http2Session, idleMs: number): () => void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined = setTimeout(() => session.close(), idleMs);
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    open++;
    clearTimeout(timer);
    stream.once("close", () => {
      if (--open === 0 && !session.closed) timer = setTimeout(() => session.close(), idleMs);
    });
  });
  return () => clearTimeout(timer);
}

/**
 * Resets an HTTP/2 stream (or closes an HTTP/1.1 connection) whose request body has not fully
 * arrived within `ms`: a client sending half a body and stalling would otherwise hold it and its
 * buffers forever. The timer is cleared when the body ends or the response closes.
 */
function boundRequestBody(req: Request, ms: number, log: Logger): NodeJS.Timeout {
  const timer = setTimeout(() => {
    log.debug("request body timed out", { path: (req.url ?? "").split("?", 1)[0], httpVersion: req.httpVersion, ms });
    if (req instanceof http2.Http2ServerRequest) req.stream.close(http2.constants.NGHTTP2_CANCEL);
    else req.socket.destroy();
  }, ms);
  req.once("end", () => clearTimeout(timer));
  return timer;
}

/**
 * Node keeps only the first of repeated authorization headers (HTTP/1.1 and HTTP/2 alike), so the
 * RPC boundary, which refuses more than one, is handed them all, joined as Headers joins repeats.
 */
function keepEveryAuthorization(req: Request): void {
  const values = repeatedHeaderValues(req.rawHeaders, "authorization");
  if (values.length > 1) req.headers.authorization = values.join(", ");
}

// connect-node turns any non-ConnectError into "internal error" and keeps the cause to itself;
// log it here, as the gRPC listener's onError does.
function logInternalErrors(log: Logger): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      if (!(err instanceof ConnectError)) {
        log.error("rpc failed", { rpc: `${req.service.typeName}/${req.method.name}`, error: err });
      }
      throw err;
    }
  };
}

/** Answers `status` with a short text body (for requests that never reach a protocol handler). */
function answerPlain(res: Response, status: number, body: string): void {
  res.statusCode = status;
  res.setHeader("content-type", "text/plain; charset=utf-8");
  res.setHeader("content-length", Buffer.byteLength(body));
  res.end(body);
}
