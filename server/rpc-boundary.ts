// The edge of every RPC, on both listeners: authenticate the caller into the context, run the
// method, map domain errors to Connect errors in one place, and log one line per call.
import type { DescService } from "@bufbuild/protobuf";
import { Code, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { toConnectError } from "./errors.js";
import type { Logger } from "./logger.js";
import { callerKey } from "./principal/caller.js";
import type { Authenticate } from "./principal/authenticate.js";

type AnyMethod = (req: unknown, ctx: HandlerContext) => Promise<unknown>;

/** Wraps every method of `impl` with authentication, error mapping and logging. */
export function withRpcBoundary<S extends DescService>(
  service: S,
  impl: ServiceImpl<S>,
  deps: { authenticate: Authenticate; log: Logger },
): ServiceImpl<S> {
  const wrapped: Record<string, AnyMethod> = {};
  for (const method of service.methods) {
    const inner = (impl as unknown as Record<string, AnyMethod>)[method.localName];
    if (!inner) continue;
    const rpc = `${service.typeName}/${method.name}`;
    wrapped[method.localName] = async (req, ctx) => {
      const started = performance.now();
      let callerId: string | undefined;
      try {
        const caller = await deps.authenticate(ctx.requestHeader.get("authorization"));
        callerId = caller.id;
        ctx.values.set(callerKey, caller);
        const res = await inner(req, ctx);
        deps.log.info("rpc", { rpc, protocol: ctx.protocolName, caller: callerId, code: "ok", ms: elapsed(started) });
        return res;
      } catch (err) {
        const error = toConnectError(err);
        const fields = { rpc, protocol: ctx.protocolName, caller: callerId, code: Code[error.code], ms: elapsed(started) };
        if (error.code === Code.Internal) deps.log.error("rpc failed", { ...fields, error: error.cause });
        else deps.log.info("rpc", fields);
        throw error;
      }
    };
  }
  return wrapped as unknown as ServiceImpl<S>;
}

const elapsed = (since: number) => Math.round((performance.now() - since) * 10) / 10;
