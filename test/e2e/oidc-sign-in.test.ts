// OpenID Connect sign-in in a real browser: the sign-in page's button takes chromium through a
// real provider (oidc-provider, test/support/oidc-provider.ts) and back, with PKCE, and the person
// lands on the page their role may use, signed in by an HttpOnly session cookie.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, BrowserContext } from "playwright";
import { SIGN_IN_ERRORS } from "../../contract/sign-in-errors.js";
import { checkView, launchBrowser, newContext } from "../support/browser.js";
import { startServerWithProvider, type TestProvider } from "../support/oidc-provider.js";
import { shown } from "../support/page-session.js";
import type { TestServer } from "../support/test-server.js";

let idp: TestProvider;
let server: TestServer;
let browser: Browser;

beforeAll(async () => {
  ({ server, idp } = await startServerWithProvider());
  browser = await launchBrowser();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await idp?.stop();
});

const contexts: BrowserContext[] = [];
afterAll(() => Promise.all(contexts.map((c) => c.close())));

/** Opens /sign-in in a fresh context and goes through the provider as `sub`, with `groups`, until back on a page. */
async function throughProvider(sub: string, groups: string[]) {
  idp.setAccount(sub, { name: `Person ${sub}`, email: `${sub}@example.com`, groups, workspace: server.principals.workspaceId });
  idp.signInAs(sub);
  const context = await newContext(browser, server.httpUrl);
  contexts.push(context);
  const page = await context.newPage();
  await page.goto("/sign-in");
  const start = page.url();
  await page.getByRole("link", { name: "Sign in with Test IdP" }).click();
  // Back from the provider: on this server again, past /auth/oidc, and not the page it left.
  await page.waitForURL((url) => url.href !== start && url.origin === server.httpUrl && !url.pathname.startsWith("/auth/"));
  return { context, page };
}

/** As throughProvider, for a person who is let in. */
async function signInWithProvider(sub: string, groups: string[]) {
  const signedIn = await throughProvider(sub, groups);
  expect(new URL(signedIn.page.url()).pathname).not.toBe("/sign-in");
  return signedIn;
}

describe("signing in with OpenID Connect", { timeout: 300_000 }, () => {
  it("offers the provider on the sign-in page, and brings an admin back to the API keys page", async () => {
    const context = await newContext(browser, server.httpUrl);
    contexts.push(context);
    const page = await context.newPage();
    await page.goto("/sign-in");
    await shown(page.getByRole("link", { name: "Sign in with Test IdP" }));
    await checkView(page, "sign-in-oidc");

    const admin = await signInWithProvider("oidc-admin", ["keys-admins"]);
    expect(new URL(admin.page.url()).pathname).toBe("/settings/api-keys");
    await shown(admin.page.getByRole("button", { name: "Create API key" }));
    expect(await admin.page.getByRole("banner").innerText()).toContain("Person oidc-admin");
    const cookies = await admin.context.cookies(server.httpUrl);
    expect(cookies.find((c) => c.name === "apikeys_session")).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    // No code, token or ID token the provider issued is left where the page's scripts can read it.
    expect(idp.issued.length).toBeGreaterThan(0);
    const readable = await admin.page.evaluate<string>("location.href + document.documentElement.outerHTML + JSON.stringify(history.state)");
    for (const value of idp.issued) expect(readable).not.toContain(value);
  });

  it("brings a member to the message that only owners and admins have access", async () => {
    const { page } = await signInWithProvider("oidc-member", ["staff"]);
    await shown(page.getByText("Only Owners and Admins have access to the API keys management page"));
  });

  it("sends a person in none of the role groups back to sign in, saying why in words", async () => {
    const { page, context } = await throughProvider("oidc-nobody", ["marketing"]);
    expect(new URL(page.url()).pathname).toBe("/sign-in");
    expect(await (await shown(page.getByRole("alert"))).innerText()).toBe(SIGN_IN_ERRORS.oidc_no_role);
    expect((await context.cookies(server.httpUrl)).map((c) => c.name)).not.toContain("apikeys_session");
    await checkView(page, "sign-in-oidc-refused");
  });
});
