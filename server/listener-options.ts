import type { Logger } from "./logger.js";

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
}
