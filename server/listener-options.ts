import type { Logger } from "./logger.js";
import type { Tracing } from "./tracing/tracing.js";

/** What both listeners (gRPC and HTTP) are configured with. */
export interface ListenerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  /** Largest request message accepted; larger ones are answered RESOURCE_EXHAUSTED. */
  readonly maxMessageBytes: number;
  readonly log: Logger;
  /** How long shutdown() lets in-flight calls finish before cutting them off; default 10 s. */
  readonly shutdownTimeoutMs?: number;
  /** An HTTP/2 connection with no call in progress this long is closed (GOAWAY); default 60 s. */
  readonly idleTimeoutMs?: number;
  /** How long a request's headers and body may take to arrive on the HTTP port; default 30 s. */
  readonly requestTimeoutMs?: number;
  /** A server span for every call, when traces are on. */
  readonly tracing?: Tracing;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
