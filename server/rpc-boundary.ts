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
      let callerId: string | undefined;
      const extra: LogFields = {};
      ctx.values.set(logFieldsKey, extra);
      // Fields are built only for a line that is written: VerifyApiKey's are off in production.
      const line = (code: string): LogFields => ({ rpc, protocol: ctx.protocolName, caller: callerId, code, ms: elapsed(started), ...extra });
      try {
        const caller = await deps.authenticate(ctx.requestHeader.get("authorization"));
        callerId = caller.id;
        ctx.values.set(callerKey, caller);
        const res = await inner(req, ctx);
        if (deps.log.enabled(okLevel)) deps.log[okLevel]("rpc", line("ok"));
        return res;
      } catch (err) {
        const error = toConnectError(err);
        if (error.code === Code.Internal) deps.log.error("rpc failed", { ...line(Code[error.code]), error: error.cause });
        else if (deps.log.enabled(okLevel)) deps.log[okLevel]("rpc", line(Code[error.code]));
        throw error;
      }
    };
  }
  return wrapped as unknown as ServiceImpl<S>;
}

const elapsed = (since: number) => Math.round((performance.now() - since) * 10) / 10;
