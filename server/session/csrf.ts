// CSRF protection for calls authenticated by the session cookie: a state-changing call must echo
// the session's CSRF token in `x-csrf-token`. Another site's page can make the browser send the
// cookie (SameSite=Strict already stops that in current browsers) but can read neither the cookie
// nor our answers, so it cannot know the token. The token is derived from the session's secret
// (a one-way hash of it): every replica computes the same one, after a restart too, with nothing
// more to store, and knowing it reveals nothing about the cookie.
import { createHash, timingSafeEqual } from "node:crypto";
import { PermissionDeniedError } from "../errors.js";

/** The header a state-changing call made with the cookie carries. */
export const CSRF_HEADER = "x-csrf-token";

/** The CSRF token of the session whose cookie holds `sessionToken`. */
export function csrfTokenOf(sessionToken: string): string {
  return createHash("sha256").update("apikeys csrf\u0000").update(sessionToken).digest("base64url");
}

/** Throws PermissionDeniedError unless `header` is `expected` (compared in constant time). */
export function checkCsrfToken(expected: string, header: string | null): void {
  const digest = (value: string) => createHash("sha256").update(value).digest();
  if (header !== null && timingSafeEqual(digest(expected), digest(header))) return;
  throw new PermissionDeniedError(
    header === null
      ? `this call changes something and came with the session cookie but without the ${CSRF_HEADER} header; reload the page and try again`
      : `the ${CSRF_HEADER} header does not match this session (it may be another session's); reload the page and try again`,
  );
}
