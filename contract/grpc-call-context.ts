// The Connect HandlerContext of one grpc-js call, built lazily. connect's createHandlerContext
// makes three AbortControllers, a deadline timer and three Headers for every call, used or not;
// on the verification path that was a large share of a call's CPU. Here each part comes into being
// when the implementation first reads it: a call that never looks at its signal never pays for one.
// What an implementation sees is the same as through connect-node. Part of the grpc-js adapter, so
// like it this must never import from server/.
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextKey, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import type * as grpc from "@grpc/grpc-js";
import type { ServerSurfaceCall } from "./grpc-adapter.js";
import { metadataToHeaders } from "./grpc-metadata.js";

// The reason every finished call's signal is aborted with. Without one, AbortController creates
// a DOMException with a stack trace per call.
const CALL_ENDED = new ConnectError("the call has ended", Code.Canceled);

export class GrpcCallContext implements HandlerContext, HeaderReader {
  readonly protocolName = "grpc";
  readonly requestMethod = "POST";
  readonly service: DescService;
  readonly values: ContextValues;
  #ended = false;
  #controller: AbortController | undefined;
  #release: (() => void) | undefined;
  #requestHeader: Headers | undefined;
  #responseHeader: Headers | undefined;
  #responseTrailer: Headers | undefined;

  constructor(
    readonly method: DescMethod,
    private readonly call: ServerSurfaceCall,
    private readonly shutdownSignal: AbortSignal | undefined,
    values: ContextValues | undefined,
  ) {
    this.service = method.parent;
    this.values = values ?? new CallValues();
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

  get responseHeader(): Headers {
    return (this.#responseHeader ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.#responseTrailer ??= new Headers());
  }

  /** The response headers, or undefined when the implementation never touched them. */
  get responseHeaderIfUsed(): Headers | undefined {
    return this.#responseHeader;
  }

  /** The response trailers, or undefined when the implementation never touched them. */
  get responseTrailerIfUsed(): Headers | undefined {
    return this.#responseTrailer;
  }

  /**
   * Aborted when the client cancels, the deadline passes, the server shuts down, or the call ends
   * (with the reasons connect-node gives). Made on first read, from the call's state at that time.
   */
  get signal(): AbortSignal {
    if (this.#controller) return this.#controller.signal;
    const controller = (this.#controller = new AbortController());
    if (this.#ended) {
      controller.abort(CALL_ENDED);
      return controller.signal;
    }
    const { call, shutdownSignal } = this;
    const abort = (reason: unknown) => {
      this.#release?.();
      controller.abort(reason);
    };
    const onCancelled = () => abort(new ConnectError("the client canceled the call", Code.Canceled));
    const onShutdown = () => abort(shutdownSignal?.reason);
    const onDeadline = () => abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
    const timeout = remainingMs(call.getDeadline());
    const timer = timeout === undefined ? undefined : setTimeout(onDeadline, timeout);
    call.once("cancelled", onCancelled);
    shutdownSignal?.addEventListener("abort", onShutdown, { once: true });
    this.#release = () => {
      clearTimeout(timer);
      call.off("cancelled", onCancelled);
      shutdownSignal?.removeEventListener("abort", onShutdown);
    };
    if (call.cancelled) onCancelled();
    else if (shutdownSignal?.aborted) onShutdown();
    else if (timeout === 0) onDeadline();
    return controller.signal;
  }

  /** The call has ended: its signal (if one was made) aborts, and its timer and listeners go. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#release?.();
    this.#controller?.abort(CALL_ENDED);
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
