// connect-node answers some requests it cannot decode with `internal`, and offers no hook to change
// that: a body that is not protobuf ("parse binary: …"), a message marked compressed in a request
// that names no grpc-encoding, and a compressed message that does not decompress (except for the
// zlib errors it already counts as the client's). JSON it cannot decode is `invalid_argument`.
// A request we cannot decode is the caller's mistake, and the gRPC port (our grpc-js adapter and
// grpc-request-framing.ts) already says so, so the HTTP port's handlers are wrapped to answer
// `invalid_argument` too, in each protocol's own form: Connect's JSON error body, gRPC's trailer,
// gRPC-Web's trailer frame.
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { createAsyncIterable, type UniversalHandler, type UniversalServerResponse } from "@connectrpc/connect/protocol";

const PARSE_FAILURE = "parse binary:";
const NO_ENCODING = "received compressed envelope, but do not know how to decompress";
const NOT_DECOMPRESSED = "decompression failed";
const INTERNAL = "13";
const INVALID_ARGUMENT = "3";
const GRPC_WEB_TRAILER_FLAG = 0x80;

/** Replaces each of the router's handlers with one that reports decode failures as invalid_argument. */
export function reportDecodeErrorsAsInvalidArgument(router: ConnectRouter): void {
  const handlers = router.handlers as UniversalHandler[];
  handlers.forEach((handler, i) => {
    const wrapped = async (req: Parameters<UniversalHandler>[0]) => rewrite(await handler(req));
    handlers[i] = Object.assign(wrapped, handler);
  });
}

async function rewrite(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  if (res.status === 500 && res.body) return rewriteConnectError(res);
  const body = res.body;
  if (!body || !(Symbol.asyncIterator in body)) return res;
  // gRPC and gRPC-Web settle the status only once the body has been produced.
  return {
    ...res,
    body: (async function* () {
      for await (const chunk of body) yield chunk[0] === GRPC_WEB_TRAILER_FLAG ? rewriteGrpcWebTrailer(chunk) : chunk;
      for (const headers of [res.header, res.trailer]) if (headers) rewriteGrpcStatus(headers);
    })(),
  };
}

async function rewriteConnectError(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  let error: { code?: string; message?: string } | undefined;
  try {
    error = JSON.parse(bytes.toString("utf8")) as typeof error;
  } catch {
    error = undefined;
  }
  const fault = error?.code === "internal" ? clientFault(error.message ?? "") : undefined;
  if (fault === undefined) return { ...res, body: createAsyncIterable([bytes]) };
  const body = Buffer.from(JSON.stringify({ code: "invalid_argument", message: fault }));
  res.header?.set("content-length", String(body.byteLength));
  return { ...res, status: 400, body: createAsyncIterable([body]) };
}

function rewriteGrpcStatus(headers: Headers): void {
  if (headers.get("grpc-status") !== INTERNAL) return;
  const fault = clientFault(decodeURIComponent(headers.get("grpc-message") ?? ""));
  if (fault === undefined) return;
  headers.set("grpc-status", INVALID_ARGUMENT);
  headers.set("grpc-message", encodeURIComponent(fault));
}

function rewriteGrpcWebTrailer(frame: Uint8Array): Uint8Array {
  const text = Buffer.from(frame.subarray(5)).toString("utf8");
  const headers = new Headers(
    text.split("\r\n").filter(Boolean).map((line) => [line.slice(0, line.indexOf(":")).trim(), line.slice(line.indexOf(":") + 1).trim()] as [string, string]),
  );
  const before = headers.get("grpc-status");
  rewriteGrpcStatus(headers);
  if (headers.get("grpc-status") === before) return frame;
  const lines: string[] = [];
  headers.forEach((value, key) => lines.push(`${key}: ${value}\r\n`));
  const data = Buffer.from(lines.join(""));
  const out = Buffer.alloc(5 + data.byteLength);
  out[0] = GRPC_WEB_TRAILER_FLAG;
  out.writeUInt32BE(data.byteLength, 1);
  data.copy(out, 5);
  return out;
}

/**
 * `error` as the wrapped handlers answer it: an internal error of connect's that is the client's
 * fault becomes invalid_argument with a message saying what failed to decode. For the HTTP port's
 * lean unary path (connect-unary.ts), which decodes through connect's own serialization.
 */
export function decodeFailureAsInvalidArgument(error: ConnectError): ConnectError {
  const fault = error.code === Code.Internal ? clientFault(error.rawMessage) : undefined;
  return fault === undefined ? error : new ConnectError(fault, Code.InvalidArgument);
}

/** What to tell the client for an internal error of connect's that is the client's fault; else undefined. */
function clientFault(message: string): string | undefined {
  if (message.startsWith(PARSE_FAILURE)) {
    return `cannot decode the request as protobuf (${message.slice(PARSE_FAILURE.length).trim()}); check the message type and content-type`;
  }
  if (message === NO_ENCODING) {
    return "the request message is marked compressed but the request names no grpc-encoding; send the message uncompressed or name its encoding";
  }
  if (message === NOT_DECOMPRESSED) return "cannot decompress the request message: its bytes are not in the grpc-encoding the request names";
  return undefined;
}
