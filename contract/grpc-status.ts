// Turns whatever a Connect implementation throws into the gRPC status the grpc-js port sends:
// code, message, trailers and a binary google.rpc.Status for error details. Part of the grpc-js
// adapter (grpc-adapter.ts), so like it this must never import from server/.
import { create, toBinary } from "@bufbuild/protobuf";
import type { DescMethod } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { AnySchema, anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { HandlerContext } from "@connectrpc/connect";
import type * as grpc from "@grpc/grpc-js";
import type { GrpcAdapterOptions } from "./grpc-adapter.js";
import { report, toMetadata } from "./grpc-metadata.js";

/**
 * Maps anything thrown to the status connect-node's gRPC protocol would send
 * (protocol-grpc/trailer-status.ts): the same code, the raw message, error metadata and
 * details in trailers, and only "internal error" for anything that is not a ConnectError.
 */
export function toStatus(
  err: unknown,
  ctx: HandlerContext,
  method: DescMethod,
  options: GrpcAdapterOptions,
): Partial<grpc.StatusObject> {
  let error: ConnectError;
  if (err instanceof ConnectError) {
    error = err;
  } else {
    report(options, err, method);
    error = new ConnectError("internal error", Code.Internal, undefined, undefined, err);
  }
  const trailer = new Headers(ctx.responseTrailer);
  error.metadata.forEach((value, key) => trailer.append(key, value));
  const metadata = toMetadata(trailer, method, options);
  if (error.details.length > 0) metadata.set("grpc-status-details-bin", encodeStatus(error));
  const code: grpc.status = error.code as number;
  // grpc-js sends the message through encodeURI, which throws on an unpaired surrogate: the call
  // would never be answered.
  return { code, details: error.rawMessage.toWellFormed(), metadata };
}

/** Encodes a ConnectError as a binary google.rpc.Status (code = 1, message = 2, details = 3). */
export function encodeStatus(error: ConnectError): Buffer {
  const writer = new BinaryWriter();
  writer.tag(1, WireType.Varint).int32(error.code);
  if (error.rawMessage !== "") writer.tag(2, WireType.LengthDelimited).string(error.rawMessage);
  for (const detail of error.details) {
    const any =
      "desc" in detail
        ? anyPack(detail.desc, create(detail.desc, detail.value))
        : create(AnySchema, { typeUrl: `type.googleapis.com/${detail.type}`, value: detail.value });
    writer.tag(3, WireType.LengthDelimited).bytes(toBinary(AnySchema, any));
  }
  const bytes = writer.finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength); // a view, not a copy
}
