// This server as an OpenID Connect relying party (openid-client): the authorization code flow
// with PKCE (S256), state and nonce. The provider's metadata and keys are fetched at the first
// sign-in and kept; a provider that cannot be reached is asked again at the next one, so the
// server starts and serves tokens while the provider is down.
import * as client from "openid-client";
import type { SignInErrorCode } from "../../contract/sign-in-errors.js";
import type { OidcConfig } from "../config.js";

/** What one sign-in must present again at its callback; kept in the browser's short-lived cookie. */
export interface OidcAttempt {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
}

/** The person the provider signed in: verified ID token claims, merged with the UserInfo answer. */
export interface OidcPerson {
  readonly issuer: string;
  readonly subject: string;
  readonly claims: Readonly<Record<string, unknown>>;
}

/** A sign-in that failed: the code the browser is sent, and why (for the log; holds no secret). */
export class OidcSignInError extends Error {
  override name = "OidcSignInError";
  constructor(
    readonly code: SignInErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The two steps of a sign-in. */
export interface RelyingParty {
  /** The provider's authorization URL for a new attempt, and the attempt to keep until the callback. */
  start(): Promise<{ url: URL; attempt: OidcAttempt }>;
  /** Checks the callback's parameters against `attempt`, redeems the code, returns the person. */
  finish(callbackParams: URLSearchParams, attempt: OidcAttempt): Promise<OidcPerson>;
}

// How long each request to the provider may take, in seconds (openid-client's unit).
const PROVIDER_TIMEOUT_S = 10;

/** Creates the relying party for `config`; it contacts the provider only when a sign-in starts. */
export function createRelyingParty(config: OidcConfig): RelyingParty {
  let discovered: Promise<client.Configuration> | undefined;
  const configuration = () => {
    discovered ??= client
      .discovery(config.issuer, config.clientId, undefined, client.ClientSecretBasic(config.clientSecret), {
        // config.ts allows plain http only for a provider on a loopback address.
        execute: config.issuer.protocol === "http:" ? [client.allowInsecureRequests] : [],
        timeout: PROVIDER_TIMEOUT_S,
      })
      .catch((err: unknown) => {
        discovered = undefined;
        throw classify(err, "discovery");
      });
    return discovered;
  };

  return {
    async start() {
      const provider = await configuration();
      const attempt: OidcAttempt = { state: client.randomState(), nonce: client.randomNonce(), codeVerifier: client.randomPKCECodeVerifier() };
      const url = client.buildAuthorizationUrl(provider, {
        redirect_uri: config.redirectUri.href,
        scope: config.scopes.join(" "),
        code_challenge: await client.calculatePKCECodeChallenge(attempt.codeVerifier),
        code_challenge_method: "S256",
        state: attempt.state,
        nonce: attempt.nonce,
      });
      return { url, attempt };
    },

    async finish(callbackParams, attempt) {
      const provider = await configuration();
      // The URL the provider redirected to: the registered redirect URI with its parameters.
      const current = new URL(config.redirectUri);
      for (const [name, value] of callbackParams) current.searchParams.append(name, value);
      try {
        const tokens = await client.authorizationCodeGrant(provider, current, {
          pkceCodeVerifier: attempt.codeVerifier,
          expectedState: attempt.state,
          expectedNonce: attempt.nonce,
          idTokenExpected: true,
        });
        const idClaims = tokens.claims()!;
        // Providers put groups and roles in the ID token, in UserInfo, or both (oidc-provider and
        // Keycloak by default answer scope-requested claims from UserInfo only).
        const userInfo = provider.serverMetadata().userinfo_endpoint
          ? await client.fetchUserInfo(provider, tokens.access_token, idClaims.sub)
          : {};
        return { issuer: idClaims.iss, subject: idClaims.sub, claims: { ...idClaims, ...userInfo } };
      } catch (err) {
        throw classify(err, "callback");
      }
    },
  };
}

/** Turns openid-client's errors into the browser's code and a log message without values. */
function classify(err: unknown, step: "discovery" | "callback"): OidcSignInError {
  if (err instanceof OidcSignInError) return err;
  const reason = describe(err);
  if (err instanceof client.AuthorizationResponseError) {
    // The provider's own refusal (access_denied, login_required...): its error code is no secret.
    return new OidcSignInError("oidc_cancelled", `the provider answered ${err.error}: ${reason}`);
  }
  if (isUnreachable(err)) return new OidcSignInError("oidc_unavailable", `the provider could not be reached (${step}): ${reason}`);
  if (err instanceof client.ResponseBodyError) {
    // The provider's error code and description (invalid_grant: "PKCE verification failed"); the
    // body's other fields stay out of the log.
    return new OidcSignInError("oidc_failed", `the provider refused a request (${step}): ${err.error}${err.error_description ? ` (${err.error_description})` : ""}`);
  }
  if (step === "discovery") return new OidcSignInError("oidc_unavailable", `the provider's metadata could not be used: ${reason}`);
  if (reason.includes('"state"')) return new OidcSignInError("oidc_expired", `the callback's state is not this browser's attempt: ${reason}`);
  return new OidcSignInError("oidc_failed", reason);
}

function isUnreachable(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e.name === "TimeoutError" || e.name === "AbortError" || (e instanceof TypeError && e.message === "fetch failed")) return true;
  }
  return false;
}

/**
 * The messages of an error and its causes ("unexpected JWT claim value encountered: unexpected
 * ID Token "nonce" claim value"). openid-client's causes also carry the compared values and
 * response bodies as plain objects; those are left out, since they may hold tokens or codes.
 */
function describe(err: unknown): string {
  const parts: string[] = [];
  for (let e = err; e instanceof Error && parts.length < 4; e = e.cause) parts.push(e.message);
  return parts.join(": ") || String(err);
}
