// Creating a key in a real browser: the name rules as the user types, Full and Custom access with
// the scope picker's search, and the secret shown once: copied to the clipboard, confirmed before
// the dialog closes, and gone afterwards from the page, its URL, its storage and its history.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Locator, Page } from "playwright";
import { AccessLevel } from "../../contract/gen/apikeys/v1/api_key_pb.js";
import { VerificationStatus } from "../../contract/gen/apikeys/v1/api_key_service_pb.js";
import { checkView, launchBrowser } from "../support/browser.js";
import { hidden, shown, type SignedIn, signInsClosedAfterAll } from "../support/page-session.js";
import { removeTempDirs, tempDir } from "../support/temp-dir.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// A catalog long enough for the scope picker to offer its search (the example has six scopes).
const CATALOG = [
  ["orders:read", "Read orders"],
  ["orders:write", "Create and change orders"],
  ["customers:read", "Read customer records"],
  ["customers:write", "Create and change customer records"],
  ["invoices:read", "Read invoices"],
  ["invoices:write", "Issue and void invoices"],
  ["webhooks:manage", "Register and remove webhooks"],
  ["reports:export", "Export reports to a data warehouse"],
].map(([name, description]) => ({ name, description }));

let server: TestServer;
let browser: Browser;
beforeAll(async () => {
  const scopesFile = path.join(tempDir("apikeys-e2e-scopes-"), "scopes.json");
  await writeFile(scopesFile, JSON.stringify(CATALOG));
  server = await startTestServer({ APIKEYS_SCOPES_FILE: scopesFile });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await removeTempDirs();
});

const signInHere = signInsClosedAfterAll();
async function as(token: string): Promise<SignedIn> {
  return signInHere(browser, server, token);
}

/** A token in this deployment's key format (the default prefix `ak`). */
const SECRET = /\bak_[0-9A-Za-z]{50}\b/;

/**
 * Everything a page's JavaScript and DOM hold that a person or a script could read the secret
 * from: the document, form fields' values, the URL, the history entry's state, local and session
 * storage. (Text run in the page: the tests are type-checked without the DOM library.)
 */
async function everythingReadable(page: Page): Promise<string> {
  return page.evaluate<string>(`(() => {
    const inputs = [...document.querySelectorAll("input, textarea")].map((e) => e.value);
    // A document of another origin (about:blank) has no storage of ours to read.
    const storage = (name) => {
      if (location.origin === "null") return [];
      const s = window[name];
      return [...Array(s.length).keys()].map((i) => s.key(i) + "=" + s.getItem(s.key(i)));
    };
    return [document.documentElement.outerHTML, ...inputs, location.href, JSON.stringify(history.state),
      ...storage("localStorage"), ...storage("sessionStorage")].join("\\n");
  })()`);
}

/** The text of the elements that `aria-describedby` names: what a screen reader reads after the field's name. */
async function describedBy(field: Locator): Promise<string> {
  const ids = ((await field.getAttribute("aria-describedby")) ?? "").split(/\s+/).filter(Boolean);
  const texts = await Promise.all(ids.map((id) => field.page().locator(`[id="${id}"]`).textContent()));
  return texts.join(" ");
}

describe("Create API key", { timeout: 300_000 }, () => {
  it("creates a Custom key with scopes found by search, shows the secret once, copies it, and leaves no trace after closing", async () => {
    const { page } = await as(server.principals.owner);
    await page.getByRole("button", { name: "Create API key" }).first().click();
    const dialog = await shown(page.getByRole("dialog"));
    const guidance = await dialog.innerText();
    expect(guidance).toContain("Tool + environment + purpose");
    expect(guidance).toContain("Zapier (production)");

    // The server's name rules, shown as the user types.
    const name = dialog.getByRole("textbox", { name: /^Name/ });
    await name.fill("x".repeat(101));
    await shown(dialog.getByText(/at most 100 characters/));
    // Next to its field for everyone: the rule is the field's accessible description, and the field is marked invalid.
    expect(await describedBy(name)).toMatch(/Name must be at most 100 characters, got 101/);
    expect(await name.getAttribute("aria-invalid")).toBe("true");
    await name.fill("Snowflake production export");
    await hidden(dialog.getByText(/at most 100 characters/));

    await dialog.getByRole("radio", { name: /Custom/ }).check();
    expect(await dialog.innerText()).toMatch(/only the scopes you select; new scopes are not included automatically/i);
    const search = dialog.getByRole("searchbox", { name: /search scopes/i });
    await search.fill("orders");
    await shown(dialog.getByRole("checkbox", { name: /orders:write/ }));
    await hidden(dialog.getByRole("checkbox", { name: /customers:read/ }));
    await dialog.getByRole("checkbox", { name: /orders:read/ }).check();
    await search.fill("warehouse"); // found by its description, "Export reports to a data warehouse"
    await dialog.getByRole("checkbox", { name: /reports:export/ }).check();
    await checkView(page, "create-key-custom");
    await dialog.getByRole("button", { name: /^Create/ }).click();

    // The secret, once, with the warning and the copy button.
    const secretText = await shown(dialog.getByText(SECRET));
    const secret = (await secretText.innerText()).match(SECRET)![0];
    expect(await dialog.innerText()).toMatch(/never be shown again/i);
    await dialog.getByRole("button", { name: "Copy" }).click();
    await shown(dialog.getByText("Copied"));
    expect(await page.evaluate<string>("navigator.clipboard.readText()")).toBe(secret);
    await checkView(page, "create-key-secret");

    // Closing asks first; the secret stays until the user confirms.
    await page.keyboard.press("Escape");
    const saved = await shown(dialog.getByRole("button", { name: /I saved it/ }));
    expect(await dialog.innerText()).toContain(secret);
    await checkView(page, "create-key-close-confirmation");
    await saved.click();
    await hidden(page.getByRole("dialog"));
    await shown(page.getByRole("row", { name: /Snowflake production export/ }));

    expect(await everythingReadable(page)).not.toContain(secret);
    await page.goBack();
    expect(await everythingReadable(page)).not.toContain(secret);
    await page.goForward();
    await page.reload();
    await shown(page.getByRole("row", { name: /Snowflake production export/ }));
    expect(await everythingReadable(page)).not.toContain(secret);

    const verified = await server.apiKeys(server.principals.service).verifyApiKey({ key: secret, requiredScopes: ["orders:read", "reports:export"] });
    expect(verified.status).toBe(VerificationStatus.VALID);
    const { apiKeys } = await server.apiKeys(server.principals.owner).listApiKeys({});
    expect(apiKeys.find((k) => k.name === "Snowflake production export")).toMatchObject({ access: AccessLevel.CUSTOM, scopes: ["orders:read", "reports:export"] });
  });

  it("creates a Full access key, explained as all current and future scopes", async () => {
    const { page } = await as(server.principals.admin);
    await page.getByRole("button", { name: "Create API key" }).first().click();
    const dialog = await shown(page.getByRole("dialog"));
    await dialog.getByRole("textbox", { name: /^Name/ }).fill("Zapier (production)");
    await dialog.getByRole("radio", { name: /Full access/ }).check();
    expect(await dialog.innerText()).toMatch(/all current and future scopes/i);
    await checkView(page, "create-key-full");
    await dialog.getByRole("button", { name: /^Create/ }).click();
    const secret = (await (await shown(dialog.getByText(SECRET))).innerText()).match(SECRET)![0];
    const verified = await server.apiKeys(server.principals.service).verifyApiKey({ key: secret, requiredScopes: ["customers:write"] });
    expect(verified.status).toBe(VerificationStatus.VALID);
  });
});
