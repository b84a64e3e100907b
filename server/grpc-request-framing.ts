// What grpc-js decides about a request before our code runs, and which it gets wrong or cannot
// see, put right on each HTTP/2 stream of the gRPC port before grpc-js takes it (grpc-js offers no
// hook there: its server interceptors never see the statuses its transport sends itself):
// - a malformed grpc-timeout is answered INTERNAL by grpc-js: refused here as INVALID_ARGUMENT;
// - a compressed message that does not decompress is answered INTERNAL ("Failed to decompress
//   message"): the status is rewritten to INVALID_ARGUMENT, as an undecodable body is answered;
// - a compressed flag with no grpc-encoding (the gRPC spec says the flag must then be 0): grpc-js
//   takes the bytes as they are. That is refused as INVALID_ARGUMENT, through grpc-js's own check
//   of the encoding, by naming one grpc-js does not support;
// - repeated authorization headers: node:http2 keeps only the first, so the RPC boundary, which
//   refuses more than one, is handed them all.
import type { Http2SecureServer, Http2Server, IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream, ServerStreamResponseOptions } from "node:http2";
import type * as grpc from "@grpc/grpc-js";
import { repeatedHeaderValues } from "./repeated-headers.js";

type StreamListener = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void;

// The gRPC spec's TimeoutValue (at most 8 digits) and TimeoutUnit; grpc-js also takes "5 S" and
// "x1Sy" (its pattern has no anchors) and answers INTERNAL to anything else.
const GRPC_TIMEOUT = /^\d{1,8}[HMSmun]$/;
// Named as the encoding of requests that name none, so that a compressed flag among them reaches
// grpc-js's "unsupported encoding" check instead of being ignored.
const NO_ENCODING = "none-declared";
const INTERNAL = 13;
const UNIMPLEMENTED = 12;
const INVALID_ARGUMENT = 3;

/**
 * Puts the checks above in front of grpc-js's handling of every stream of `server` (bound); false
 * when its HTTP/2 servers cannot be found. grpc-js exposes no hook in front of its transport, so
 * its node:http2 servers are read from a private field (only read: nothing of grpc-js is changed),
 * and each one's "stream" listeners, node's public API, are put behind the checks.
 */
export function checkGrpcRequestFraming(server: grpc.Server): boolean {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) return false;
  for (const h2 of servers.keys() as Iterable<Http2Server | Http2SecureServer>) checkStreams(h2);
  return true;
}

function checkStreams(server: Http2Server | Http2SecureServer): void {
  const handlers = server.listeners("stream") as StreamListener[];
  server.removeAllListeners("stream");
  server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
    const timeout = headers["grpc-timeout"];
    if (timeout !== undefined && !GRPC_TIMEOUT.test(timeout as string)) {
      return refuse(stream, `invalid grpc-timeout "${String(timeout)}": send 1 to 8 digits and a unit (H, M, S, m, u or n), such as "500m"`);
    }
    const encoding = headers["grpc-encoding"];
    const declaresNone = encoding === undefined || encoding === "identity";
    if (declaresNone) headers["grpc-encoding"] = NO_ENCODING;
    // Only these can end in a status to rewrite: the placeholder's refusal, or a failed inflate.
    if (declaresNone || encoding === "gzip" || encoding === "deflate") reportUndecodableAsInvalidArgument(stream);
    keepEveryAuthorization(headers, rawHeaders);
    for (const handler of handlers) handler.call(server, stream, headers, flags, rawHeaders);
  });
}

function keepEveryAuthorization(headers: IncomingHttpHeaders, rawHeaders: string[]): void {
  const values = repeatedHeaderValues(rawHeaders, "authorization");
  // grpc-js makes each value of a list one metadata entry; the boundary sees them joined.
  if (values.length > 1) (headers as Record<string, string | string[]>).authorization = values;
}

/** Answers a request that never reaches grpc-js: a trailers-only response, as grpc-js sends one. */
function refuse(stream: ServerHttp2Stream, message: string): void {
  stream.respond(
    { ":status": 200, "content-type": "application/grpc+proto", "grpc-status": String(INVALID_ARGUMENT), "grpc-message": encodeURI(message) },
    { endStream: true },
  );
}

// grpc-js sends a status in the response headers (trailers-only) or in trailers, calling these as
// the stream's methods. Shared functions, not closures: they run for every call on the port.
function reportUndecodableAsInvalidArgument(stream: ServerHttp2Stream): void {
  streamMethods ??= Object.getPrototypeOf(stream) as ServerHttp2Stream;
  stream.respond = respondRewritingStatus;
  stream.sendTrailers = sendTrailersRewritingStatus;
}

/** node:http2's own methods of a server stream, found on the first stream seen. */
let streamMethods: ServerHttp2Stream | undefined;

function respondRewritingStatus(this: ServerHttp2Stream, headers?: OutgoingHttpHeaders, options?: ServerStreamResponseOptions): void {
  // grpc-js passes header objects; raw header lists (Node 22+) are passed on as they are.
  streamMethods!.respond.call(this, headers && !Array.isArray(headers) ? rewriteStatus(headers) : headers, options);
}

function sendTrailersRewritingStatus(this: ServerHttp2Stream, trailers: OutgoingHttpHeaders): void {
  streamMethods!.sendTrailers.call(this, rewriteStatus(trailers));
}

function rewriteStatus(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const status = Number(headers["grpc-status"]);
  if (status !== INTERNAL && status !== UNIMPLEMENTED) return headers;
  const message = decodeURI(String(headers["grpc-message"] ?? ""));
  let clientFault: string | undefined;
  if (status === INTERNAL && message === "Failed to decompress message") {
    clientFault = "cannot decompress the request message: its bytes are not in the grpc-encoding the request names";
  } else if (status === UNIMPLEMENTED && message.includes(`"${NO_ENCODING}"`)) {
    clientFault = "the request message is marked compressed but the request names no grpc-encoding; send the message uncompressed or name its encoding";
  }
  if (clientFault === undefined) return headers;
  return { ...headers, "grpc-status": String(INVALID_ARGUMENT), "grpc-message": encodeURI(clientFault) };
}
