// OpenID Connect sign-in against a real provider (oidc-provider) started in this process: the
// browser's side is driven over HTTP with a cookie-keeping client, hop by hop.
import { Code, ConnectError } from "@connectrpc/connect";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyService } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { PrincipalKind, Role, SessionService, SignInMethod } from "../contract/gen/apikeys/v1/session_service_pb.js";
import { SIGN_IN_ERRORS } from "../contract/sign-in-errors.js";
import { createCookieBrowser, type CookieBrowser } from "./support/cookie-browser.js";
import { loadConfig } from "../server/config.js";
import { linkOidcIdentity } from "../server/oidc/oidc-identity.repository.js";
import { createRelyingParty, OidcSignInError } from "../server/oidc/oidc-relying-party.js";
import { freePort, startServerWithProvider, startTestProvider, type TestProvider } from "./support/oidc-provider.js";
import { browserClient } from "./support/session.js";
import type { TestServer } from "./support/test-server.js";

let idp: TestProvider;
let server: TestServer;
let redirectUri: string;

beforeAll(async () => {
  ({ server, idp, redirectUri } = await startServerWithProvider());
}, 120_000);
afterAll(async () => {
  await server?.stop();
  await idp?.stop();
});

/** A person at the provider, with claims; `groups` map to roles here. */
function person(sub: string, groups: string[], workspace: string | null = server.principals.workspaceId): string {
  idp.setAccount(sub, { name: `Person ${sub}`, email: `${sub}@example.com`, groups, ...(workspace ? { workspace } : {}) });
  return sub;
}

/** Starts a sign-in in `browser` as `sub`, and stops at the provider's redirect back to this server. */
async function toCallback(browser: CookieBrowser, sub: string): Promise<string> {
  idp.signInAs(sub);
  return browser.followUntil(`${server.httpUrl}/auth/oidc/start`, (url) => url.startsWith(redirectUri));
}

/** The callback's answer: where it sends the browser, and the session cookie it set (if any). */
async function deliver(browser: CookieBrowser, callbackUrl: string) {
  const res = await browser.get(callbackUrl);
  await res.body?.cancel();
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get("location")!, server.httpUrl);
  return { location, error: location.searchParams.get("error"), cookie: browser.cookie(server.httpUrl, "apikeys_session") };
}

/** A full sign-in as `sub`: where the browser lands, and its session cookie. */
async function signIn(sub: string) {
  const browser = createCookieBrowser();
  return { browser, ...(await deliver(browser, await toCallback(browser, sub))) };
}

const sessionOf = async (cookie: string) => (await browserClient(SessionService, server.httpUrl, { cookie: `apikeys_session=${cookie}` }).getSession({})).session!;

describe("signing in with OpenID Connect", () => {
  it("offers the provider on the sign-in page", async () => {
    const { oidc } = await browserClient(SessionService, server.httpUrl, {}).getSignInOptions({});
    expect(oidc).toMatchObject({ displayName: "Sign in with Test IdP", startPath: "/auth/oidc/start" });
  });

  it("starts at the provider with PKCE (S256), state and nonce, keeping them in an HttpOnly SameSite=Lax cookie for /auth/oidc only", async () => {
    const res = await fetch(`${server.httpUrl}/auth/oidc/start`, { redirect: "manual" });
    expect(res.status).toBe(302);
    const authorize = new URL(res.headers.get("location")!);
    expect(authorize.origin).toBe(idp.issuer);
    expect(Object.fromEntries(authorize.searchParams)).toMatchObject({
      client_id: idp.clientId,
      redirect_uri: redirectUri,
      response_type: "code",
      scope: "openid profile email apikeys",
      code_challenge_method: "S256",
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      state: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      nonce: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    const [setCookie, ...more] = res.headers.getSetCookie();
    expect(more).toEqual([]);
    expect(setCookie).toMatch(/^apikeys_oidc=[A-Za-z0-9_.-]+; Max-Age=600; Path=\/auth\/oidc; HttpOnly; SameSite=Lax$/);
    expect(res.headers.get("cache-control")).toBe("no-store");
    // The verifier itself never leaves the server for the provider, only its challenge.
    const verifier = setCookie!.split(";")[0]!.split(".")[2]!;
    expect(res.headers.get("location")).not.toContain(verifier);
  });

  it("when an admin signs in, then the session GetSession describes has the role from the claims", async () => {
    const { location, cookie, browser } = await signIn(person("ada", ["staff", "keys-admins"]));
    expect(location.pathname).toBe("/settings/api-keys");
    expect(cookie).toMatch(/^aks_/);
    // The attempt's cookie is gone once used.
    expect(browser.cookie(redirectUri, "apikeys_oidc")).toBeUndefined();
    const session = await sessionOf(cookie!);
    expect(session).toMatchObject({
      principalName: "Person ada",
      kind: PrincipalKind.MEMBER,
      workspaceId: server.principals.workspaceId,
      workspaceName: "Acme",
      role: Role.ADMIN,
      method: SignInMethod.OIDC,
    });
    expect(session.csrfToken).not.toBe("");
    // The session manages keys like the admin's token does.
    const keys = browserClient(ApiKeyService, server.httpUrl, { cookie: `apikeys_session=${cookie}` });
    await expect(keys.listApiKeys({})).resolves.toBeDefined();
  });

  it("maps owner, member and support staff, and sends support staff to their page", async () => {
    const owner = await signIn(person("olga", ["keys-owners", "staff"]));
    expect(owner.location.pathname).toBe("/settings/api-keys");
    expect(await sessionOf(owner.cookie!)).toMatchObject({ kind: PrincipalKind.MEMBER, role: Role.OWNER });
    const member = await signIn(person("mo", ["staff"]));
    expect(member.location.pathname).toBe("/settings/api-keys");
    expect(await sessionOf(member.cookie!)).toMatchObject({ kind: PrincipalKind.MEMBER, role: Role.MEMBER });
    const support = await signIn(person("sue", ["support-staff"], null));
    expect(support.location.pathname).toBe("/support/legacy-keys");
    expect(await sessionOf(support.cookie!)).toMatchObject({ kind: PrincipalKind.SUPPORT, role: Role.UNSPECIFIED, workspaceId: "" });
  });

  it("when the person's groups change, then the next sign-in updates the same principal's role, and earlier sessions see it", async () => {
    const first = await signIn(person("rita", ["keys-admins"]));
    const before = await sessionOf(first.cookie!);
    expect(before.role).toBe(Role.ADMIN);
    const second = await signIn(person("rita", ["staff"]));
    const after = await sessionOf(second.cookie!);
    expect(after).toMatchObject({ principalId: before.principalId, role: Role.MEMBER });
    expect(await sessionOf(first.cookie!)).toMatchObject({ principalId: before.principalId, role: Role.MEMBER });
    const rows = await server.app.db.selectFrom("oidc_identities").selectAll().where("subject", "=", "rita").execute();
    expect(rows).toMatchObject([{ issuer: `${idp.issuer}`, principal_id: before.principalId }]);
  });

  it("when a person's first sign-ins arrive at once, then all sign in as one principal", async () => {
    const { db } = server.app;
    const mapped = { kind: "member", workspaceId: server.principals.workspaceId, role: "admin" } as const;
    // Hold the identities table until all eight are waiting, so that they then run together.
    let pending: Promise<Awaited<ReturnType<typeof linkOidcIdentity>>[]> | undefined;
    await db.transaction().execute(async (tx) => {
      await sql`lock table oidc_identities in access exclusive mode`.execute(tx);
      pending = Promise.all(Array.from({ length: 8 }, () => linkOidcIdentity(db, { issuer: idp.issuer, subject: "twin", name: "Twin", mapped })));
      pending.catch(() => {}); // awaited below, once the table is released
      for (;;) {
        const { rows } = await sql<{ waiting: number }>`select count(*)::int as waiting from pg_locks where not granted and database = (select oid from pg_database where datname = current_database())`.execute(db);
        if (rows[0]!.waiting >= 8) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
    const linked = await pending!;
    const ids = new Set(linked.map((l) => ("principalId" in l ? l.principalId : l.refused)));
    expect(ids.size).toBe(1);
    const rows = await db.selectFrom("oidc_identities").select("principal_id").where("subject", "=", "twin").execute();
    expect(rows.map((r) => r.principal_id)).toEqual([...ids]);
    expect(await db.selectFrom("principals").select("id").where("name", "=", "Twin").execute()).toHaveLength(1);
  });

  it("when the claims map to no role or no workspace, then the browser is sent back to sign in with a message that says what to do", async () => {
    const noRole = await signIn(person("nora", ["sales"]));
    expect(noRole).toMatchObject({ cookie: undefined, error: "oidc_no_role" });
    expect(noRole.location.pathname).toBe("/sign-in");
    expect(SIGN_IN_ERRORS.oidc_no_role).toMatch(/Ask your administrator to add you/);
    expect(server.logs.some((l) => l.includes("oidc sign-in refused") && l.includes('claim \\"groups\\" holds none of the values'))).toBe(true);
    const noWorkspace = await signIn(person("nick", ["staff"], null));
    expect(noWorkspace).toMatchObject({ cookie: undefined, error: "oidc_no_workspace" });
    const unknownWorkspace = await signIn(person("una", ["staff"], "ws_doesnotexist"));
    expect(unknownWorkspace).toMatchObject({ cookie: undefined, error: "oidc_no_workspace" });
    expect(server.logs.some((l) => l.includes('name workspace \\"ws_doesnotexist\\", which does not exist'))).toBe(true);
    const principals = await server.app.db.selectFrom("oidc_identities").select("subject").where("subject", "in", ["nora", "nick", "una"]).execute();
    expect(principals).toEqual([]);
  });

  it("when the state in the callback is not the browser's, then the sign-in is refused", async () => {
    const browser = createCookieBrowser();
    const callback = new URL(await toCallback(browser, person("tess", ["keys-admins"])));
    callback.searchParams.set("state", "x".repeat(43));
    expect(await deliver(browser, callback.href)).toMatchObject({ cookie: undefined, error: "oidc_expired" });
  });

  it("when the browser has no attempt cookie (another browser, or it expired), then the sign-in is refused", async () => {
    const callback = await toCallback(createCookieBrowser(), person("otto", ["keys-admins"]));
    expect(await deliver(createCookieBrowser(), callback)).toMatchObject({ cookie: undefined, error: "oidc_expired" });
  });

  it("when a code is replayed with the attempt's cookie, then the provider refuses it and no second session starts", async () => {
    const browser = createCookieBrowser();
    const callback = await toCallback(browser, person("ray", ["keys-admins"]));
    const attempt = browser.cookie(redirectUri, "apikeys_oidc")!;
    expect((await deliver(browser, callback)).cookie).toMatch(/^aks_/);
    const thief = createCookieBrowser();
    thief.setCookie(redirectUri, "apikeys_oidc", attempt, "/auth/oidc");
    expect(await deliver(thief, callback)).toMatchObject({ cookie: undefined, error: "oidc_failed" });
  });

  it("when the ID token's nonce is not the attempt's, then the sign-in is refused", async () => {
    const browser = createCookieBrowser();
    const callback = await toCallback(browser, person("nina", ["keys-admins"]));
    const [state, , verifier] = browser.cookie(redirectUri, "apikeys_oidc")!.split(".");
    browser.setCookie(redirectUri, "apikeys_oidc", [state, "n".repeat(43), verifier].join("."), "/auth/oidc");
    expect(await deliver(browser, callback)).toMatchObject({ cookie: undefined, error: "oidc_failed" });
    expect(server.logs.some((l) => l.includes("oidc sign-in refused") && l.includes("nonce"))).toBe(true);
  });

  it("when the PKCE verifier is missing or wrong, then the sign-in is refused", async () => {
    const missing = createCookieBrowser();
    const first = await toCallback(missing, person("pia", ["keys-admins"]));
    const [state, nonce, verifier] = missing.cookie(redirectUri, "apikeys_oidc")!.split(".");
    missing.setCookie(redirectUri, "apikeys_oidc", [state, nonce].join("."), "/auth/oidc");
    expect(await deliver(missing, first)).toMatchObject({ cookie: undefined, error: "oidc_expired" });

    const wrong = createCookieBrowser();
    const second = await toCallback(wrong, "pia");
    const [state2, nonce2] = wrong.cookie(redirectUri, "apikeys_oidc")!.split(".");
    // The first attempt's verifier: well-formed, but not the one this code's challenge was made from.
    wrong.setCookie(redirectUri, "apikeys_oidc", [state2, nonce2, verifier].join("."), "/auth/oidc");
    expect(await deliver(wrong, second)).toMatchObject({ cookie: undefined, error: "oidc_failed" });
    expect(server.logs.some((l) => l.includes("oidc sign-in refused") && l.includes("invalid_grant"))).toBe(true);
  });

  it("when the person cancels at the provider, then the browser is sent back to sign in", async () => {
    const browser = createCookieBrowser();
    const callback = new URL(await toCallback(browser, person("cora", ["keys-admins"])));
    const denied = new URL(redirectUri);
    denied.searchParams.set("error", "access_denied");
    denied.searchParams.set("state", callback.searchParams.get("state")!);
    denied.searchParams.set("iss", idp.issuer);
    expect(await deliver(browser, denied.href)).toMatchObject({ cookie: undefined, error: "oidc_cancelled" });
  });

  it("ends an OpenID Connect session on sign-out", async () => {
    const { cookie } = await signIn(person("sid", ["keys-admins"]));
    const session = await sessionOf(cookie!);
    await browserClient(SessionService, server.httpUrl, { cookie: `apikeys_session=${cookie}`, csrf: session.csrfToken }).signOut({});
    await expect(sessionOf(cookie!)).rejects.toMatchObject({ code: Code.Unauthenticated });
  });

  it("ends an OpenID Connect session when the principal's tokens are revoked", async () => {
    const { cookie } = await signIn(person("rex", ["keys-admins"]));
    const { principalId } = await sessionOf(cookie!);
    await server.operate("tokens", "revoke", "--principal", principalId);
    const err = await sessionOf(cookie!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
  });

  it("never writes a code, a token, the client secret or the attempt's values to the log", async () => {
    const browser = createCookieBrowser();
    const callback = await toCallback(browser, person("lou", ["keys-admins"]));
    const attempt = browser.cookie(redirectUri, "apikeys_oidc")!;
    const { cookie } = await deliver(browser, callback);
    expect(cookie).toBeDefined();
    const logs = server.logs.join("\n");
    const secrets = [idp.clientSecret, cookie!, ...attempt.split("."), ...idp.issued];
    expect(idp.issued.length).toBeGreaterThan(10);
    for (const secret of secrets) expect(logs).not.toContain(secret);
    expect(logs).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/); // no JWT at all (ID tokens)
    expect(logs).toContain("oidc sign-in");
  });

  // Last: it stops the provider.
  it("when the provider cannot be reached at the callback, then the browser is told to try again later and the server keeps serving", async () => {
    const browser = createCookieBrowser();
    const callback = await toCallback(browser, person("dora", ["keys-admins"]));
    await idp.stop();
    expect(await deliver(browser, callback)).toMatchObject({ cookie: undefined, error: "oidc_unavailable" });
    expect(SIGN_IN_ERRORS.oidc_unavailable).toMatch(/could not be reached/);
    await expect(server.apiKeys(server.principals.admin).listApiKeys({})).resolves.toBeDefined();
  });
});

describe("a provider that cannot be reached at the first sign-in", () => {
  it("refuses the sign-in as unavailable, and asks the provider again at the next one", async () => {
    const port = await freePort();
    const { oidc } = loadConfig({
      APIKEYS_OIDC_ISSUER: `http://127.0.0.1:${port}`,
      APIKEYS_OIDC_CLIENT_ID: "apikeys-test",
      APIKEYS_OIDC_CLIENT_SECRET: "secret",
      APIKEYS_PUBLIC_URL: "http://127.0.0.1:8080",
      APIKEYS_OIDC_WORKSPACE_ID: "ws_1",
      APIKEYS_OIDC_ADMIN_VALUES: "admins",
    });
    const relyingParty = createRelyingParty(oidc!);
    const err = await relyingParty.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OidcSignInError);
    expect(err).toMatchObject({ code: "oidc_unavailable", message: expect.stringContaining("could not be reached (discovery)") });
    const provider = await startTestProvider(() => "http://127.0.0.1:8080/auth/oidc/callback", port);
    try {
      const { url } = await relyingParty.start();
      expect(url.origin).toBe(provider.issuer);
      expect(url.searchParams.get("code_challenge_method")).toBe("S256");
    } finally {
      await provider.stop();
    }
  });
});
