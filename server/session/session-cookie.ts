// The session cookie, as ISSUE17 fixes it: `apikeys_session`, Path=/, HttpOnly (never readable by
// the page's JavaScript), SameSite=Strict (never sent by another site's requests), Secure when the
// server runs with TLS, Max-Age = the session's remaining life.
import { parseCookie, stringifySetCookie } from "cookie";

/** The cookie's name. */
export const SESSION_COOKIE = "apikeys_session";

/** The Set-Cookie header value that stores `token` for `maxAgeSeconds`. */
export function sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  return stringifySetCookie({
    name: SESSION_COOKIE,
    value: token,
    path: "/",
    httpOnly: true,
    sameSite: "strict",
    secure,
    maxAge: Math.max(0, Math.floor(maxAgeSeconds)),
  });
}

/** The Set-Cookie header value that makes the browser drop the cookie. */
export function clearedSessionCookie(secure: boolean): string {
  return sessionCookie("", 0, secure);
}

/** The session cookie's value in a `cookie` request header, or undefined when it holds none. */
export function sessionCookieValue(cookieHeader: string | null): string | undefined {
  if (cookieHeader === null || !cookieHeader.includes(SESSION_COOKIE)) return undefined;
  // Our tokens are base62 with "_": nothing to decode, and a malformed %-escape must not throw.
  return parseCookie(cookieHeader, { decode: (value) => value })[SESSION_COOKIE] || undefined;
}
