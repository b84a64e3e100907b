// A real OpenID provider (oidc-provider, the certified Node implementation) on 127.0.0.1 for one
// test file: one registered confidential client that must use PKCE, accounts whose claims the test
// sets, and a login page that signs in whichever account the test chose (as a person typing their
// password would), then grants the scopes asked for. Every value it issues is kept, so tests can
// look for them where they must not be (logs).
import { generateKeyPairSync } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";

export interface TestAccount {
  /** Claims beyond `sub`: name, email, groups, workspace... */
  readonly claims: Record<string, unknown>;
}

export interface TestProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Defines (or redefines) an account and its claims. */
  setAccount(sub: string, claims: Record<string, unknown>): void;
  /** The account the login page signs in next. */
  signInAs(sub: string): void;
  /** Every code, access token and ID token the provider issued. */
  readonly issued: string[];
  stop(): Promise<void>;
}

/** Starts the provider (on `port`, or any free one); `redirectUri` is the client's one registered redirect URI. */
export async function startTestProvider(redirectUri: (issuer: string) => string, port = 0): Promise<TestProvider> {
  const accounts = new Map<string, Record<string, unknown>>();
  let nextAccount: string | undefined;
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = "apikeys-test";
  const clientSecret = "test-client-secret-that-must-never-be-logged-0123456789";
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri(issuer)],
        response_types: ["code"],
        grant_types: ["authorization_code"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    jwks: { keys: [{ ...privateKey.export({ format: "jwk" }), kid: "test", use: "sig", alg: "RS256" }] },
    pkce: { required: () => true },
    ttl: { AuthorizationCode: 60, AccessToken: 600, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
    claims: { openid: ["sub"], profile: ["name"], email: ["email"], apikeys: ["groups", "workspace"] },
    scopes: ["openid", "profile", "email", "apikeys"],
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx, sub) => {
      const claims = accounts.get(sub);
      return claims && { accountId: sub, claims: () => ({ sub, ...claims }) };
    },
  });
  const issued: string[] = [];
  provider.on("authorization_code.saved", (code) => void issued.push(code.jti));
  provider.on("access_token.saved", (token) => void issued.push(token.jti));
  provider.on("grant.success", (ctx) => {
    const idToken = (ctx.body as { id_token?: unknown } | undefined)?.id_token;
    if (typeof idToken === "string") issued.push(idToken);
  });
  const callback = provider.callback();
  server.on("request", (req, res) => {
    if (!req.url?.startsWith("/interaction/")) return callback(req, res);
    interact(req, res).catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });

  // The login and consent steps a person would take on the provider's pages.
  async function interact(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === "login") {
      if (!nextAccount) throw new Error("the test did not say which account signs in (signInAs)");
      await provider.interactionFinished(req, res, { login: { accountId: nextAccount } }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
    const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  }

  return {
    issuer,
    clientId,
    clientSecret,
    setAccount: (sub, claims) => void accounts.set(sub, claims),
    signInAs: (sub) => void (nextAccount = sub),
    issued,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
