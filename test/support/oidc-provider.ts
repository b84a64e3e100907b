// A real OpenID provider (oidc-provider, the certified Node implementation) on 127.0.0.1 for one
// test file: one registered confidential client that must use PKCE, accounts whose claims the test
// sets, and a login page that signs in whichever account the test chose (as a person typing their
// password would), then grants the scopes asked for. Every value it issues is kept, so tests can
// look for them where they must not be (logs).
import { generateKeyPairSync } from "node:crypto";
import * as http from "node:http";
import { createServer, type AddressInfo } from "node:net";
import Provider from "oidc-provider";
import { startTestServer, type TestServer } from "./test-server.js";

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

/** A server whose sign-in goes through a test provider, and that provider. */
export interface ServerWithProvider {
  readonly server: TestServer;
  readonly idp: TestProvider;
  /** The server's callback, registered with the provider. */
  readonly redirectUri: string;
}

/**
 * Starts a test provider and a test server signing in through it ("Sign in with Test IdP"; the
 * `groups` claim maps keys-owners, keys-admins, staff and support-staff to roles, `workspace` to
 * the workspace). The redirect URI names the server's port, and the provider registers it before
 * the server starts: a free port is taken first, and another if something took it meanwhile.
 */
export async function startServerWithProvider(): Promise<ServerWithProvider> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const redirectUri = `http://127.0.0.1:${port}/auth/oidc/callback`;
    const idp = await startTestProvider(() => redirectUri);
    try {
      const server = await startTestServer({
        APIKEYS_HTTP_PORT: String(port),
        APIKEYS_PUBLIC_URL: `http://127.0.0.1:${port}`,
        APIKEYS_OIDC_ISSUER: idp.issuer,
        APIKEYS_OIDC_CLIENT_ID: idp.clientId,
        APIKEYS_OIDC_CLIENT_SECRET: idp.clientSecret,
        APIKEYS_OIDC_DISPLAY_NAME: "Sign in with Test IdP",
        APIKEYS_OIDC_SCOPES: "openid profile email apikeys",
        APIKEYS_OIDC_WORKSPACE_CLAIM: "workspace",
        APIKEYS_OIDC_ROLE_CLAIM: "groups",
        APIKEYS_OIDC_OWNER_VALUES: "keys-owners",
        APIKEYS_OIDC_ADMIN_VALUES: "keys-admins",
        APIKEYS_OIDC_MEMBER_VALUES: "staff",
        APIKEYS_OIDC_SUPPORT_VALUES: "support-staff",
      });
      return { server, idp, redirectUri };
    } catch (err) {
      await idp.stop();
      if (attempt >= 3 || !String((err as Error).message).includes("APIKEYS_HTTP_PORT")) throw err;
    }
  }
}

/** A TCP port on 127.0.0.1 that was free when asked (something may take it before it is used). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
