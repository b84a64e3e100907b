// A browser names the page that made a request in its Origin header. A request carrying the
// session cookie (or signing in) from a page of another site is refused, whatever else it holds.
import type { HandlerContext } from "@connectrpc/connect";
import { requestHeaderValue } from "../../contract/grpc-call-context.js";
import { PermissionDeniedError } from "../errors.js";

/**
 * Throws PermissionDeniedError when the request's Origin names a host other than the one it was
 * sent to. Hosts are compared without the scheme: behind a proxy that terminates TLS, the page is
 * https and the request reaches this server as http. No Origin (curl, a server-side client, a
 * same-origin GET) passes; `Origin: null` (a sandboxed or opaque page) does not.
 */
export function refuseForeignOrigin(ctx: HandlerContext): void {
  const origin = requestHeaderValue(ctx, "origin");
  if (origin === null || hostOf(origin) === hostOf(ctx.url)) return;
  throw new PermissionDeniedError(
    `requests from another site (Origin: ${origin.slice(0, 200)}) may not use or start a session; open the API keys page on ${hostOf(ctx.url)} itself and reload it`,
  );
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}
