// What the two lazily built HandlerContexts share: the gRPC port's (grpc-call-context.ts) and the
// HTTP port's lean unary path's (server/connect-unary.ts). connect's createHandlerContext makes
// three AbortControllers, a deadline timer and three Headers for every call, used or not; here
// each part comes into being when the implementation first reads it. The subclass says how its
// transport tells a call's end (watch) and how it reads request headers. Part of the grpc-js
// adapter's contract, so this must never import from server/.
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type HandlerContext } from "@connectrpc/connect";

// The reason every finished call's signal is aborted with. Without one, AbortController creates
// a DOMException with a stack trace per call.
const CALL_ENDED = new ConnectError("the call has ended", Code.Canceled);

/** Aborts a call's signal with `reason`. */
export type AbortCall = (reason: unknown) => void;

/** A HandlerContext whose response headers, trailers and signal are made when first read. */
export abstract class LazyCallContext implements HandlerContext {
  abstract readonly protocolName: string;
  readonly requestMethod = "POST";
  readonly service: DescService;
  #ended = false;
  #controller: AbortController | undefined;
  #release: (() => void) | undefined;
  #responseHeader: Headers | undefined;
  #responseTrailer: Headers | undefined;

  constructor(
    readonly method: DescMethod,
    readonly values: ContextValues,
  ) {
    this.service = method.parent;
  }

  abstract timeoutMs(): number | undefined;
  abstract get url(): string;
  abstract get requestHeader(): Headers;

  /**
   * Starts watching what ends the call early (the client going away, the deadline...), calling
   * `abort` with connect-node's reason when it does, also at once if it already has; returns the
   * function that stops watching.
   */
  protected abstract watch(abort: AbortCall): () => void;

  /** The response headers a call starts with. */
  protected initialResponseHeader(): Headers {
    return new Headers();
  }

  get responseHeader(): Headers {
    return (this.#responseHeader ??= this.initialResponseHeader());
  }

  get responseTrailer(): Headers {
    return (this.#responseTrailer ??= new Headers());
  }

  /** The response headers, or undefined when nobody touched them. */
  get responseHeaderIfUsed(): Headers | undefined {
    return this.#responseHeader;
  }

  /** The response trailers, or undefined when nobody touched them. */
  get responseTrailerIfUsed(): Headers | undefined {
    return this.#responseTrailer;
  }

  /** Aborted when the call ends, or earlier by what the subclass watches. Made on first read. */
  get signal(): AbortSignal {
    if (this.#controller) return this.#controller.signal;
    const controller = (this.#controller = new AbortController());
    if (this.#ended) {
      controller.abort(CALL_ENDED);
      return controller.signal;
    }
    let aborted = false;
    const abort = (reason: unknown) => {
      aborted = true;
      this.#release?.();
      controller.abort(reason);
    };
    this.#release = this.watch(abort);
    // watch() may abort before it returns its release (the client had already gone).
    if (aborted) this.#release();
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
