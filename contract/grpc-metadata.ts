// Converts between grpc-js Metadata and the Fetch API Headers that Connect implementations see, so
// that headers and trailers look the same on the grpc-js port as through connect-node. Part of the
// grpc-js adapter (grpc-adapter.ts), so like it this must never import from server/.
import type { DescMethod } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import type { GrpcAdapterOptions } from "./grpc-adapter.js";

/**
 * Request metadata as Connect request headers. grpc-js has already decoded `-bin` values; they are
 * re-encoded as base64, which is what connect-node hands implementations for the same header.
 */
export function metadataToHeaders(metadata: grpc.Metadata): Headers {
  const headers = new Headers();
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    for (const value of values) {
      headers.append(key, typeof value === "string" ? value : value.toString("base64"));
    }
  }
  return headers;
}

// Headers the transport owns: an implementation (or a ConnectError's metadata copied from another
// call) must not override them.
const TRANSPORT_HEADERS = new Set([
  "connection",
  "content-length",
  "content-type",
  "grpc-accept-encoding",
  "grpc-encoding",
  "grpc-message",
  "grpc-status",
  "grpc-status-details-bin",
  "grpc-timeout",
  "te",
  "transfer-encoding",
]);

/** Response headers or trailers as grpc-js Metadata, without the ones the transport owns. */
export function toMetadata(headers: Headers, method: DescMethod, options: GrpcAdapterOptions): grpc.Metadata {
  const metadata = new grpc.Metadata();
  headers.forEach((value, key) => {
    if (key.startsWith(":") || TRANSPORT_HEADERS.has(key)) return;
    try {
      if (key.endsWith("-bin")) {
        for (const part of value.split(",")) metadata.add(key, Buffer.from(part.trim(), "base64"));
      } else {
        metadata.add(key, value);
      }
    } catch (err) {
      // grpc-js rejects keys and values HTTP/2 cannot carry; drop the header, keep the call.
      report(options, new Error(`dropped response metadata "${key}"`, { cause: err }), method);
    }
  });
  return metadata;
}

/** Hands `error` to the adapter's onError hook, which must never change the client's answer. */
export function report(options: GrpcAdapterOptions, error: unknown, method: DescMethod): void {
  try {
    options.onError?.(error, method);
  } catch {
    // A failing log hook must not change the answer the client gets.
  }
}
