// The Connect HandlerContext of one grpc-js call, built lazily (see lazy-call-context.ts). What an
// implementation sees is the same as through connect-node. Part of the grpc-js adapter, so like it
// this must never import from server/.
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextKey, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import type * as grpc from "@grpc/grpc-js";
import type { ServerSurfaceCall } from "./grpc-adapter.js";
import { metadataToHeaders } from "./grpc-metadata.js";
import { LazyCallContext, type AbortCall } from "./lazy-call-context.js";

export class GrpcCallContext extends LazyCallContext implements HeaderReader {
  readonly protocolName = "grpc";
  #requestHeader: Headers | undefined;

  constructor(
    method: DescMethod,
    private readonly call: ServerSurfaceCall,
    private readonly shutdownSignal: AbortSignal | undefined,
    values: ContextValues | undefined,
  ) {
    super(method, values ?? new CallValues());
  }

  timeoutMs(): number | undefined {
    return remainingMs(this.call.getDeadline());
  }

  get url(): string {
    const secure = this.call.getAuthContext().transportSecurityType !== undefined;
    return `${secure ? "https" : "http"}://${this.call.getHost() ?? "localhost"}${this.call.getPath()}`;
  }

  get requestHeader(): Headers {
    return (this.#requestHeader ??= metadataToHeaders(this.call.metadata));
  }

  /** `requestHeader.get(name)`, read from the call's metadata without building the Headers. */
  requestHeaderValue(name: string): string | null {
    const key = name.toLowerCase(); // so that "X-Trace-BIN" is taken as binary too
    if (this.#requestHeader || key.endsWith("-bin")) return this.requestHeader.get(name);
    const values = this.call.metadata.get(key) as string[];
    // Repeats joined as Headers joins them. Values need no trimming as Headers trims: HTTP/2 forbids
    // surrounding whitespace in header values (RFC 9113, section 8.2.1) and nghttp2 drops them.
    return values.length === 0 ? null : values.length === 1 ? values[0]! : values.join(", ");
  }

  /** The client cancels, the deadline passes, or the server shuts down (with connect-node's reasons). */
  protected watch(abort: AbortCall): () => void {
    const { call, shutdownSignal } = this;
    const onCancelled = () => abort(new ConnectError("the client canceled the call", Code.Canceled));
    const onShutdown = () => abort(shutdownSignal?.reason);
    const onDeadline = () => abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
    const timeout = remainingMs(call.getDeadline());
    const timer = timeout === undefined ? undefined : setTimeout(onDeadline, timeout);
    call.once("cancelled", onCancelled);
    shutdownSignal?.addEventListener("abort", onShutdown, { once: true });
    if (call.cancelled) onCancelled();
    else if (shutdownSignal?.aborted) onShutdown();
    else if (timeout === 0) onDeadline();
    return () => {
      clearTimeout(timer);
      call.off("cancelled", onCancelled);
      shutdownSignal?.removeEventListener("abort", onShutdown);
    };
  }
}

/** A context that can read one request header without building the Headers of every one. */
export interface HeaderReader {
  requestHeaderValue(name: string): string | null;
}

/**
 * One request header as `ctx.requestHeader.get(name)` gives it; on the grpc-js port and the HTTP
 * port's lean unary path, without building every header.
 */
export function requestHeaderValue(ctx: HandlerContext, name: string): string | null {
  const reader = ctx as HandlerContext & Partial<HeaderReader>;
  return typeof reader.requestHeaderValue === "function" ? reader.requestHeaderValue(name) : ctx.requestHeader.get(name);
}

/**
 * What connect's createContextValues makes, as a class: that one builds three closures per object,
 * which on the verification path is garbage on every call.
 */
export class CallValues implements ContextValues {
  [id: symbol]: unknown;

  get<T>(key: ContextKey<T>): T {
    return key.id in this ? (this[key.id] as T) : key.defaultValue;
  }

  set<T>(key: ContextKey<T>, value: T): this {
    this[key.id] = value;
    return this;
  }

  delete(key: ContextKey<unknown>): this {
    delete this[key.id];
    return this;
  }
}

function remainingMs(deadline: grpc.Deadline): number | undefined {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}
