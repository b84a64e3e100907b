// The edge of every RPC, on both listeners: authenticate the caller into the context (by the
// authorization header, or else by the session cookie with its Origin and CSRF checks), check the
// request's identifiers and durations (request-checks.ts), refuse work whose deadline has passed,
// run the method, map domain errors to Connect errors in one place, and log one line per call.
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createContextKey, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { requestHeaderValue } from "../contract/grpc-call-context.js";
import type { OutageLog } from "./db/outage-log.js";
import { deadlinePassed } from "./deadline.js";
import { DeadlineExceededError, toConnectError, UnauthenticatedError } from "./errors.js";
import type { LogFields, Logger, LogLevel } from "./logger.js";
import type { CallObserver, RpcMetrics } from "./metrics/rpc-metrics.js";
import { callerKey, type Caller } from "./principal/caller.js";
import type { Authenticate } from "./principal/authenticate.js";
import { requestChecker } from "./request-checks.js";
import type { CookieAuthenticate } from "./session/cookie-auth.js";

type AnyMethod = (req: unknown, ctx: HandlerContext) => unknown;

/** Fields a method adds to its call's log line (such as whether the cache decided). */
export const logFieldsKey = createContextKey<LogFields | undefined>(undefined, { description: "log fields of this call" });

// Services call these thousands of times per second: their lines are debug, not info.
const HOT_METHODS = new Set(["VerifyApiKey"]);

/**
 * Wraps every method of `impl` with authentication, error mapping and logging. A call that memory
 * decides (a cached caller, a method answering without a promise) is answered without one: on the
 * verification path, each promise and microtask is a measurable share of the call.
 */
export function withRpcBoundary<S extends DescService>(
  service: S,
  impl: ServiceImpl<S>,
  deps: {
    authenticate: Authenticate;
    /** Authenticates calls without an authorization header by the session cookie; without it, cookies are ignored. */
    cookie?: CookieAuthenticate;
    /** Methods that need no credential (signing in); their calls run without a caller. */
    noCredential?: readonly DescMethod[];
    log: Logger;
    outage?: OutageLog;
    /** Counts each call and its latency (Prometheus metrics); absent, nothing is counted. */
    calls?: RpcMetrics;
  },
): ServiceImpl<S> {
  const wrapped: Record<string, AnyMethod> = {};
  for (const method of service.methods) {
    const inner = (impl as unknown as Record<string, AnyMethod>)[method.localName];
    if (!inner) continue;
    const { rpc, okLevel } = lineOf(method);
    const check = requestChecker(method.input);
    const observe = deps.calls?.forMethod(method);
    if (deps.noCredential?.includes(method)) {
      wrapped[method.localName] = (req, ctx) => new BoundaryCall(rpc, okLevel, deps.log, ctx, deps.outage, observe).run(inner, req, undefined, check);
      continue;
    }
    const changesSomething = method.idempotency !== MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;
    wrapped[method.localName] = (req, ctx) => {
      const call = new BoundaryCall(rpc, okLevel, deps.log, ctx, deps.outage, observe);
      let caller: Caller | Promise<Caller>;
      try {
        const authorization = requestHeaderValue(ctx, "authorization");
        caller =
          (authorization === null ? deps.cookie?.(ctx, changesSomething) : undefined) ?? deps.authenticate(singleCredential(authorization));
      } catch (err) {
        return call.fail(err);
      }
      if (caller instanceof Promise) return caller.then((c) => call.run(inner, req, c, check), (err: unknown) => call.fail(err));
      return call.run(inner, req, caller, check);
    };
  }
  return wrapped as unknown as ServiceImpl<S>;
}

/**
 * The authorization header, refused when the request carries more than one: both listeners hand
 * over every value, joined with ", " as Headers joins repeats, and a token never holds a comma.
 * Which of two credentials to believe is not ours to guess (the first used to win).
 */
function singleCredential(authorization: string | null): string | null {
  if (authorization === null || !authorization.includes(",")) return authorization;
  throw new UnauthenticatedError('more than one credential: send exactly one "authorization: Bearer <token>" header');
}

/** How a method's calls are named on their log lines, and the level of a successful one. */
function lineOf(method: DescMethod): { rpc: string; okLevel: LogLevel } {
  return { rpc: `${method.parent.typeName}/${method.name}`, okLevel: HOT_METHODS.has(method.name) ? "debug" : "info" };
}

/** Writes the line of each call of `method` sent a kept answer (see the adapter's AnswerCache), which never reaches the boundary. */
export function keptAnswerLog(log: Logger, method: DescMethod): (callerId: string) => void {
  const { rpc, okLevel } = lineOf(method);
  return (callerId) => {
    if (log.enabled(okLevel)) log[okLevel]("rpc", { rpc, protocol: "grpc", caller: callerId, code: "ok", cache: "answer" });
  };
}

const DEADLINE_PASSED = new DeadlineExceededError("the deadline passed before the call started; nothing was done");

/**
 * `error` with a message that can be sent. gRPC sends the message percent-encoded in a header, and
 * both grpc-js and connect-es throw on an unpaired surrogate (encodeURI), leaving the call
 * unanswered; a message that quotes a client's string could hold one.
 */
function wellFormed(error: ConnectError): ConnectError {
  if (error.rawMessage.isWellFormed()) return error;
  const sendable = new ConnectError(error.rawMessage.toWellFormed(), error.code, error.metadata, undefined, error.cause);
  sendable.details = error.details;
  return sendable;
}

// One call through the boundary. A class rather than closures, so that a call answered from
// memory allocates one object.
class BoundaryCall {
  readonly started = performance.now();
  /** The fields a method adds exist only when the call's line will be written. */
  readonly extra: LogFields | undefined;
  callerId: string | undefined;

  constructor(
    readonly rpc: string,
    readonly okLevel: LogLevel,
    readonly log: Logger,
    readonly ctx: HandlerContext,
    readonly outage: OutageLog | undefined,
    readonly observe: CallObserver | undefined,
  ) {
    this.extra = log.enabled(okLevel) ? {} : undefined;
    if (this.extra) ctx.values.set(logFieldsKey, this.extra);
  }

  /** Checks the request and runs the method as `caller` (none for a method needing no credential); its errors are mapped here. */
  run(inner: AnyMethod, req: unknown, caller: Caller | undefined, check: ((req: unknown) => void) | undefined): unknown {
    if (caller) {
      this.callerId = caller.id;
      this.ctx.values.set(callerKey, caller);
    }
    let res: unknown;
    try {
      check?.(req);
      // Work started past its deadline is work whose result nobody receives (such as a new key's secret).
      if (deadlinePassed(this.ctx)) throw DEADLINE_PASSED;
      res = inner(req, this.ctx);
    } catch (err) {
      return this.fail(err);
    }
    if (res instanceof Promise) return res.then((r: unknown) => this.ok(r), (err: unknown) => this.fail(err));
    return this.ok(res);
  }

  ok<T>(res: T): T {
    this.observe?.(this.ctx.protocolName, 0, performance.now() - this.started);
    if (this.extra) this.log[this.okLevel]("rpc", this.line("ok"));
    return res;
  }

  /** Maps `err` to the Connect error the client gets, logs it, and throws it. */
  fail(err: unknown): never {
    const error: ConnectError = wellFormed(toConnectError(err));
    this.observe?.(this.ctx.protocolName, error.code, performance.now() - this.started);
    if (error.code === Code.Internal) this.log.error("rpc failed", { ...this.line(Code[error.code]), error: error.cause });
    else if (this.extra) this.log[this.okLevel]("rpc", this.line(Code[error.code]));
    // An unreachable database is logged once per outage, not once per call.
    if (error.code === Code.Unavailable) this.outage?.callFailed(error.cause);
    throw error;
  }

  line(code: string): LogFields {
    const { ctx } = this;
    const ms = Math.round((performance.now() - this.started) * 10) / 10;
    return { rpc: this.rpc, protocol: ctx.protocolName, caller: this.callerId, code, ms, ...this.extra };
  }
}
