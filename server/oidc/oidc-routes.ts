// The browser's side of OpenID Connect sign-in, on the HTTP port:
//   GET /auth/oidc/start     → redirect to the provider, with PKCE, state and nonce
//   GET /auth/oidc/callback  → check the provider's answer, map claims to a principal, start a
//                              session, redirect to the page the principal may use
// The attempt (state, nonce, PKCE verifier) waits in a short-lived HttpOnly cookie scoped to
// /auth/oidc under the public URL. It is SameSite=Lax, not Strict: the callback is a top-level
// navigation coming from the provider's site, and a Strict cookie would not be sent with it. No
// server-side state per attempt, so any replica can take the callback and nobody can fill a
// table by starting sign-ins.
import { parseCookie, stringifySetCookie } from "cookie";
import type { SignInErrorCode } from "../../contract/sign-in-errors.js";
import type { OidcConfig } from "../config.js";
import type { Db } from "../db/database.js";
import type { PlainHandler, Request, Response } from "../http-server.js";
import type { Logger } from "../logger.js";
import { mapClaims } from "./oidc-claims.js";
import { linkOidcIdentity } from "./oidc-identity.repository.js";
import { OidcSignInError, type OidcAttempt, type RelyingParty } from "./oidc-relying-party.js";

/** Starts a browser session for a principal signed in with OIDC: the Set-Cookie value of the session cookie. */
export type StartOidcSession = (principalId: string) => Promise<string>;

export const OIDC_START_PATH = "/auth/oidc/start";
export const OIDC_CALLBACK_PATH = "/auth/oidc/callback";
const ATTEMPT_COOKIE = "apikeys_oidc";
// Long enough to sign in at the provider (a password, a second factor); short enough that a
// forgotten tab's attempt is gone.
const ATTEMPT_MAX_AGE_S = 600;
// state, nonce and verifier from openid-client: base64url, 43 characters each.
const ATTEMPT_VALUE = /^[A-Za-z0-9_-]{43,128}$/;

interface OidcRoutesDeps {
  readonly config: OidcConfig;
  readonly db: Db;
  readonly log: Logger;
  readonly relyingParty: RelyingParty;
  readonly startSession: StartOidcSession;
  /** Waits until every replica has evicted what a change made stale (a role changed by claims). */
  readonly awaitConfirmation: (change: string) => Promise<unknown>;
}

/** The handler of /auth/oidc/start and /auth/oidc/callback. */
export function createOidcRoutes(deps: OidcRoutesDeps): PlainHandler {
  const { config, log } = deps;
  const page = (path: string) => new URL(path, config.publicUrl).pathname;
  const secure = config.publicUrl.protocol === "https:";
  const attemptCookie = (value: string, maxAge: number) =>
    stringifySetCookie({ name: ATTEMPT_COOKIE, value, path: page("auth/oidc"), httpOnly: true, sameSite: "lax", maxAge, secure });

  const redirect = (res: Response, location: string, cookies: string[]) => {
    res.statusCode = 302;
    res.setHeader("location", location);
    res.setHeader("cache-control", "no-store");
    if (cookies.length > 0) res.setHeader("set-cookie", cookies);
    res.end();
  };
  const refuse = (res: Response, code: SignInErrorCode, reason: string) => {
    log.warn("oidc sign-in refused", { error: code, reason });
    redirect(res, `${page("sign-in")}?error=${code}`, [attemptCookie("", 0)]);
  };

  async function start(res: Response): Promise<void> {
    const { url, attempt } = await deps.relyingParty.start();
    redirect(res, url.href, [attemptCookie(encodeAttempt(attempt), ATTEMPT_MAX_AGE_S)]);
  }

  async function callback(req: Request, res: Response): Promise<void> {
    // Our values are base64url joined by dots: nothing to decode, and a bad %-escape must not throw.
    const attempt = decodeAttempt(parseCookie(req.headers.cookie ?? "", { decode: (value) => value })[ATTEMPT_COOKIE]);
    if (!attempt) return refuse(res, "oidc_expired", "the callback came without this browser's attempt cookie (expired, or another browser)");
    const params = new URL(req.url ?? "", "http://callback").searchParams;
    const person = await deps.relyingParty.finish(params, attempt);
    const mapped = mapClaims(person.claims, config);
    if ("refused" in mapped) return refuse(res, mapped.refused, mapped.detail);
    const linked = await linkOidcIdentity(deps.db, { issuer: person.issuer, subject: person.subject, name: displayName(person.claims), mapped });
    if ("refused" in linked) return refuse(res, linked.refused, linked.detail);
    // The role is saved either way; a replica that has not confirmed the change drops its caches
    // (fail closed), so signing in goes on.
    if (linked.change) await deps.awaitConfirmation(linked.change).catch((err: unknown) => log.warn("oidc role change not confirmed by every replica", { error: err }));
    const session = await deps.startSession(linked.principalId);
    log.info("oidc sign-in", { principal: linked.principalId, kind: mapped.kind, role: mapped.kind === "member" ? mapped.role : undefined });
    redirect(res, page(mapped.kind === "support" ? "support/legacy-keys" : "settings/api-keys"), [attemptCookie("", 0), session]);
  }

  return (req, res) => {
    const path = (req.url ?? "").split("?", 1)[0];
    if (path !== OIDC_START_PATH && path !== OIDC_CALLBACK_PATH) return false;
    if (req.method !== "GET") {
      res.statusCode = 405;
      res.setHeader("allow", "GET");
      res.setHeader("content-length", "0");
      res.end();
      return true;
    }
    (path === OIDC_START_PATH ? start(res) : callback(req, res)).catch((err: unknown) => {
      if (err instanceof OidcSignInError) return refuse(res, err.code, err.message);
      log.error("oidc sign-in failed", { error: err });
      if (!res.headersSent) refuse(res, "oidc_failed", "unexpected error");
    });
    return true;
  };
}

/** A person's display name from the standard claims, most readable first. */
function displayName(claims: Readonly<Record<string, unknown>>): string {
  for (const name of ["name", "preferred_username", "email", "sub"]) {
    const value = claims[name];
    if (typeof value === "string" && value.trim() !== "") return value.trim();
  }
  return "OpenID Connect user";
}

function encodeAttempt(attempt: OidcAttempt): string {
  return [attempt.state, attempt.nonce, attempt.codeVerifier].join(".");
}

function decodeAttempt(value: string | undefined): OidcAttempt | undefined {
  const [state, nonce, codeVerifier, ...rest] = (value ?? "").split(".");
  if (rest.length > 0 || ![state, nonce, codeVerifier].every((v) => v !== undefined && ATTEMPT_VALUE.test(v))) return undefined;
  return { state: state!, nonce: nonce!, codeVerifier: codeVerifier! };
}
