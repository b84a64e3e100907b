// The HTTP port's server spans for the calls connect-node answers (gRPC, gRPC-Web, GET, compressed
// requests); the lean unary path (connect-unary.ts) makes its own. A connect-node interceptor runs
// once a request has been decoded: one that does not decode is answered before it, without a span.
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Tracing } from "./tracing.js";

/** An interceptor answering each call inside a server span. */
export function rpcSpanInterceptor(tracing: Tracing): Interceptor {
  return (next) => async (req) => {
    const system = req.header.get("content-type")?.startsWith("application/grpc") ? "grpc" : "connect_rpc";
    const span = tracing.startRpc(req.method, system, (name) => req.header.get(name) ?? undefined);
    try {
      const res = await span.run(() => next(req));
      span.end(0);
      return res;
    } catch (err) {
      span.end(ConnectError.from(err).code);
      throw err;
    }
  };
}
