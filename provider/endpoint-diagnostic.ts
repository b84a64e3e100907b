// What a wrong `endpoint` looks like from the provider's settings check, and what to change: the
// server's gRPC port answers in HTTP/2 only, https:// on a plain-HTTP port fails the TLS
// handshake, and a path the server does not serve answers 404. Without this, each surfaced as a
// server error ("Internal", "Unimplemented") that sent users to the server's log.
import { Code, ConnectError } from "@connectrpc/connect";
import { error, type Diagnostic } from "./protocol/diagnostics.js";

/** The environment variable that stands in for an unset `endpoint`. */
export const ENDPOINT_VARIABLE = "APIKEYS_ENDPOINT";

/** The fix every endpoint diagnostic ends with. */
export const ENDPOINT_FIX = `Set the provider's \`endpoint\` argument or the ${ENDPOINT_VARIABLE} environment variable to the server's HTTP port (APIKEYS_HTTP_PORT, default 8080), such as http://127.0.0.1:8080.`;

const SUMMARY = "The apikeys endpoint is not the server's HTTP port";

/** A diagnostic naming `endpoint` when the settings check's failure shows that `url` is wrong; undefined otherwise. */
export function endpointDiagnostic(e: unknown, url: URL): Diagnostic | undefined {
  const err = ConnectError.from(e);
  const codes = causeCodes(err);
  // Node's HTTP/1.1 parser met something else: the server's gRPC port answers with HTTP/2 frames.
  if (codes.some((c) => c.startsWith("HPE_"))) {
    return error(SUMMARY, `${url.origin} answers in a protocol other than HTTP/1.1, like the server's gRPC port (APIKEYS_GRPC_PORT, default 50051), which speaks only HTTP/2. ${ENDPOINT_FIX}`, "endpoint");
  }
  // The same port may instead close the connection while the request is still being written,
  // before its HTTP/2 answer is read: which of the two happens is a race.
  if (url.protocol === "http:" && codes.some((c) => c === "EPIPE" || c === "ECONNRESET")) {
    return error(
      SUMMARY,
      `${url.origin} closed the connection without an HTTP/1.1 answer, like the server's gRPC port (APIKEYS_GRPC_PORT, default 50051), which speaks only HTTP/2. ${ENDPOINT_FIX}`,
      "endpoint",
    );
  }
  if (url.protocol === "https:" && plainTextAnswer(err)) {
    return error(
      "The apikeys endpoint uses https:// but the server does not use TLS",
      `${url.origin} answered the TLS handshake in plain text. Use http://${url.host} in \`endpoint\` (or ${ENDPOINT_VARIABLE}) if the server runs without TLS, or give the server a certificate (APIKEYS_TLS_CERT and APIKEYS_TLS_KEY) and keep https://.`,
      "endpoint",
    );
  }
  // Every apikeys server serves ListApiKeys at the root of its HTTP port; 404 means another path or server.
  if (err.code === Code.Unimplemented) {
    const path = url.pathname.replace(/\/+$/, "");
    const where = path ? `Remove the path "${path}" from \`endpoint\`: the server serves its API at the root of its HTTP port.` : "Check the host and port.";
    return error(SUMMARY, `${url.href} does not serve the apikeys API (the server answered ${err.rawMessage}). ${where} ${ENDPOINT_FIX}`, "endpoint");
  }
  if (err.code === Code.Internal || err.code === Code.Unknown) {
    return error(
      "The apikeys endpoint did not answer as an apikeys server",
      `Checking the settings, ${url.origin} answered ${Code[err.code]}: ${err.rawMessage}. ${ENDPOINT_FIX} If it already is, check the server's log.`,
      "endpoint",
    );
  }
  return undefined;
}

/** The error and every cause under it. */
function causes(err: unknown): Error[] {
  const chain: Error[] = [];
  for (let cause = err, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) chain.push(cause);
  return chain;
}

/** The `code` of the error and of every cause under it, such as "EPROTO" or "HPE_INVALID_CONSTANT". */
function causeCodes(err: unknown): string[] {
  return causes(err).flatMap((c) => {
    const code = (c as { code?: unknown }).code;
    return typeof code === "string" ? [code] : [];
  });
}

/**
 * True when a TLS handshake got a plain-text answer. OpenSSL words it as a bad record header
 * ("wrong version number", or "packet length too long" in some versions); Node reports EPROTO
 * or the ERR_SSL_ code, depending on its version.
 */
function plainTextAnswer(err: unknown): boolean {
  const codes = causeCodes(err);
  if (codes.includes("ERR_SSL_WRONG_VERSION_NUMBER") || codes.includes("ERR_SSL_PACKET_LENGTH_TOO_LONG")) return true;
  return codes.includes("EPROTO") && causes(err).some((c) => /wrong version number|packet length too long/.test(c.message));
}
