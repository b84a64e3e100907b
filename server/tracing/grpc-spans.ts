// The gRPC port's server spans: each unary handler the contract's adapter made is wrapped, so that
// every call has its span, answers kept by the answer cache and requests that do not decode
// included (neither reaches the RPC boundary). Every method we serve is unary.
import type { DescService } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import type { Tracing } from "./tracing.js";

/** `implementation` with each unary method answering inside a server span. */
export function tracedGrpcImplementation(
  service: DescService,
  implementation: grpc.UntypedServiceImplementation,
  tracing: Tracing,
): grpc.UntypedServiceImplementation {
  const traced = { ...implementation };
  for (const method of service.methods) {
    const handler = implementation[method.name] as grpc.handleUnaryCall<unknown, unknown> | undefined;
    if (handler === undefined || method.methodKind !== "unary") continue;
    traced[method.name] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const span = tracing.startRpc(method, "grpc", (name) => metadataValue(call.metadata, name));
      span.run(() =>
        handler(call, (error, value, trailer, flags) => {
          // The adapter always sets a code; UNKNOWN (2) is what grpc-js sends for an error without one.
          span.end(error ? (error.code ?? 2) : 0);
          callback(error, value, trailer, flags);
        }),
      );
    };
  }
  return traced;
}

/** A metadata entry's text values joined as repeated headers are, or undefined. */
function metadataValue(metadata: grpc.Metadata, name: string): string | undefined {
  const values = metadata.get(name).filter((v): v is string => typeof v === "string");
  return values.length === 0 ? undefined : values.join(",");
}
