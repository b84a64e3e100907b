// Authentication by the session cookie, for calls without an authorization header (which wins
// when both are sent). In order, with no database work before the last step: the cookie's value,
// the page's Origin, the CSRF token of a call that changes anything, then the session itself.
// A session found ended (or a cookie that never was one) is also cleared from the browser.
import type { HandlerContext } from "@connectrpc/connect";
import { requestHeaderValue } from "../../contract/grpc-call-context.js";
import { UnauthenticatedError } from "../errors.js";
import type { AuthenticateToken } from "../principal/authenticate.js";
import type { Caller } from "../principal/caller.js";
import { checkCsrfToken, CSRF_HEADER, csrfTokenOf } from "./csrf.js";
import { refuseForeignOrigin } from "./request-origin.js";
import { clearedSessionCookie, sessionCookieValue } from "./session-cookie.js";

/**
 * The caller of a call authenticated by its session cookie, or undefined when it carries none.
 * `changesSomething`: the method is not NO_SIDE_EFFECTS, so the CSRF token is required.
 */
export type CookieAuthenticate = (ctx: HandlerContext, changesSomething: boolean) => Caller | Promise<Caller> | undefined;

/** Builds the cookie authenticator on the session authenticator; `secure`: the server runs with TLS. */
export function createCookieAuthenticator(deps: { session: AuthenticateToken; secure: boolean }): CookieAuthenticate {
  const cleared = clearedSessionCookie(deps.secure);
  const clearOnRefusal = (ctx: HandlerContext, err: unknown): never => {
    if (err instanceof UnauthenticatedError) ctx.responseHeader.append("set-cookie", cleared);
    throw err;
  };
  return (ctx, changesSomething) => {
    const token = sessionCookieValue(requestHeaderValue(ctx, "cookie"));
    if (token === undefined) return undefined;
    refuseForeignOrigin(ctx);
    if (changesSomething) checkCsrfToken(csrfTokenOf(token), requestHeaderValue(ctx, CSRF_HEADER));
    let caller: Caller | Promise<Caller>;
    try {
      caller = deps.session(token);
    } catch (err) {
      return clearOnRefusal(ctx, err);
    }
    return caller instanceof Promise ? caller.catch((err: unknown) => clearOnRefusal(ctx, err)) : caller;
  };
}
