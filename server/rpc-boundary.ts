// The edge of every RPC, on both listeners: authenticate the caller into the context, run the
// method, map domain errors to Connect errors in one place, and log one line per call.
import type { DescService } from "@bufbuild/protobuf";
import { Code, createContextKey, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { toConnectError } from "./errors.js";
import type { LogFields, Logger } from "./logger.js";
import { callerKey } from "./principal/caller.js";
import type { Authenticate } from "./principal/authenticate.js";

type AnyMethod = (req: unknown, ctx: HandlerContext) => Promise<unknown>;

/** Fields a method adds to its call's log line (such as whether the cache decided). */
export const logFieldsKey = createContextKey<LogFields | undefined>(undefined, { description: "log fields of this call" });

// Services call these thousands of times per second: their lines are debug, not info.
const HOT_METHODS = new Set(["VerifyApiKey"]);

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
    const okLevel = HOT_METHODS.has(method.name) ? "debug" : "info";
    wrapped[method.localName] = async (req, ctx) => {
      const started = performance.now();
      // The fields a method adds exist only when its line will be written: VerifyApiKey's lines
      // are debug, off in production, and this is its every call.
      const extra: LogFields | undefined = deps.log.enabled(okLevel) ? {} : undefined;
      if (extra) ctx.values.set(logFieldsKey, extra);
      let callerId: string | undefined;
      try {
        const caller = await deps.authenticate(ctx.requestHeader.get("authorization"));
        callerId = caller.id;
        ctx.values.set(callerKey, caller);
        const res = await inner(req, ctx);
        if (extra) deps.log[okLevel]("rpc", logLine(rpc, ctx, callerId, "ok", started, extra));
        return res;
      } catch (err) {
        const error = toConnectError(err);
        const line = () => logLine(rpc, ctx, callerId, Code[error.code], started, extra);
        if (error.code === Code.Internal) deps.log.error("rpc failed", { ...line(), error: error.cause });
        else if (extra) deps.log[okLevel]("rpc", line());
        throw error;
      }
    };
  }
  return wrapped as unknown as ServiceImpl<S>;
}

function logLine(rpc: string, ctx: HandlerContext, caller: string | undefined, code: string, started: number, extra: LogFields | undefined): LogFields {
  return { rpc, protocol: ctx.protocolName, caller, code, ms: Math.round((performance.now() - started) * 10) / 10, ...extra };
}
