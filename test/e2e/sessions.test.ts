// Signing in and staying signed in, in a real browser: the sign-in form, a session that survives a
// server restart, a lost connection with a retry, sign-out, and a session that expires.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, BrowserContext } from "playwright";
import { AccessLevel } from "../../contract/gen/apikeys/v1/api_key_pb.js";
import { checkView, launchBrowser, newContext } from "../support/browser.js";
import { addWorkspace, hidden, shown, signIn, submitSignIn, tokenField, type SignedIn } from "../support/page-session.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

let server: TestServer;
let browser: Browser;
beforeAll(async () => {
  server = await startTestServer();
  browser = await launchBrowser();
  await server.apiKeys(server.principals.owner).createApiKey({ name: "Zapier (production)", access: AccessLevel.FULL });
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

const open: Array<{ context: BrowserContext }> = [];
afterAll(() => Promise.all(open.map((s) => s.context.close())));
async function as(token: string, on = server): Promise<SignedIn> {
  const signedIn = await signIn(browser, on, token);
  open.push(signedIn);
  return signedIn;
}

const SESSION_COOKIE = "apikeys_session";

describe("signing in", { timeout: 300_000 }, () => {
  it("signs in with a principal token through the form; the session is an HttpOnly, SameSite=Strict cookie", async () => {
    const context = await newContext(browser, server.httpUrl);
    open.push({ context });
    const page = await context.newPage();
    await page.goto("/settings/api-keys");
    await page.waitForURL("**/sign-in");
    await checkView(page, "sign-in");
    await tokenField(page).fill("akp_not_a_real_token");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    expect(await (await shown(page.getByRole("alert"))).innerText()).toMatch(/not accepted/i);
    await checkView(page, "sign-in-refused");

    await submitSignIn(page, server.principals.owner);
    await shown(page.getByRole("row", { name: /Zapier \(production\)/ }));
    const cookies = await context.cookies();
    expect(cookies.map((c) => c.name)).toEqual([SESSION_COOKIE]);
    expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/" });
    expect(cookies[0]!.expires).toBeGreaterThan(Date.now() / 1000);
    expect(await page.evaluate<string>("document.cookie")).toBe("");
    expect(await page.evaluate<string>("JSON.stringify([localStorage.length, sessionStorage.length])")).toBe("[0,0]");
  });

  it("keeps the session through a server restart", async () => {
    const { page } = await as(server.principals.admin);
    await shown(page.getByRole("row", { name: /Zapier \(production\)/ }));
    await server.restart();
    await page.reload();
    await shown(page.getByRole("row", { name: /Zapier \(production\)/ }));
    expect(new URL(page.url()).pathname).toBe("/settings/api-keys");
  });

  it("says the connection was lost while the server is down, and the retry works once it is back", async () => {
    const { page } = await as(server.principals.owner);
    await shown(page.getByRole("row", { name: /Zapier \(production\)/ }));
    await page.getByRole("button", { name: "Create API key" }).click();
    const dialog = await shown(page.getByRole("dialog"));
    await dialog.getByRole("textbox", { name: /^Name/ }).fill("Retool (staging)");
    await server.halt();
    try {
      await dialog.getByRole("button", { name: /^Create/ }).click();
      const alert = await shown(dialog.getByRole("alert"));
      expect(await alert.innerText()).toMatch(/could not reach the server/i);
      await checkView(page, "lost-connection");
    } finally {
      await server.restart();
    }
    await dialog.getByRole("button", { name: "Retry" }).click();
    await shown(dialog.getByRole("button", { name: "Copy" }));
    const { apiKeys } = await server.apiKeys(server.principals.owner).listApiKeys({});
    expect(apiKeys.map((k) => k.name)).toContain("Retool (staging)");
  });

  it("signs out: the session ends on the server, and its cookie no longer opens the page", async () => {
    const { page, context } = await as(server.principals.owner);
    await shown(page.getByRole("row", { name: /Zapier \(production\)/ }));
    const [cookie] = await context.cookies();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL("**/sign-in");
    await shown(page.getByText(/you signed out/i));
    expect(await context.cookies()).toEqual([]);
    // The old cookie, put back, is refused by the server: the session is gone, not just forgotten.
    await context.addCookies([cookie!]);
    await page.goto("/settings/api-keys");
    await page.waitForURL("**/sign-in");
    await hidden(page.getByRole("row", { name: /Zapier \(production\)/ }));
  });

  it("when the session ends while the page is open, the failed call offers the way to sign in again", async () => {
    const token = await addWorkspace(server, "Globex");
    const { page } = await as(token);
    await shown(page.getByRole("button", { name: "Create API key" }));
    const { id } = await server.app.db.selectFrom("principals").select("id").where("name", "=", "Globex Owner").executeTakeFirstOrThrow();
    await server.operate("tokens", "revoke", "--principal", id);

    await page.getByRole("button", { name: "Create API key" }).first().click();
    const dialog = await shown(page.getByRole("dialog"));
    await dialog.getByRole("textbox", { name: /^Name/ }).fill("Zapier (production)");
    await dialog.getByRole("button", { name: /^Create/ }).click();
    await shown(dialog.getByRole("alert").filter({ hasText: "Your session has ended. Sign in again to continue." }));
    await dialog.getByRole("button", { name: "Go to sign-in" }).click();
    await page.waitForURL("**/sign-in");
    await shown(tokenField(page));
  });

  it("sends the person to sign in once the session has expired", async () => {
    const shortLived = await startTestServer({ APIKEYS_SESSION_TTL_MS: "20000" });
    try {
      const { page, context } = await as(shortLived.principals.owner, shortLived);
      // 20 s: long enough to sign in on a busy machine and read the cookie before it expires.
      const [cookie] = await context.cookies();
      // Wait for the session's end by the clock, then act: the page must notice.
      await expect.poll(() => Date.now() / 1000 > cookie!.expires + 1, { timeout: 60_000, interval: 500 }).toBe(true);
      await page.reload();
      await page.waitForURL("**/sign-in");
      await shown(tokenField(page));
      // Not only the browser's doing (it drops a cookie past its Max-Age): the server refuses it too.
      const res = await fetch(`${shortLived.httpUrl}/apikeys.v1.SessionService/GetSession`, {
        method: "POST",
        headers: { "content-type": "application/json", cookie: `${SESSION_COOKIE}=${cookie!.value}` },
        body: "{}",
      });
      expect(res.status).toBe(401);
    } finally {
      await shortLived.stop();
    }
  });
});
