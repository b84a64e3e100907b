// The keys table in a real browser: its columns, the scopes behind "Full access" and "Custom" on
// hover and on keyboard focus, paging through hundreds of keys, and the empty state.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Locator, Page } from "playwright";
import { AccessLevel } from "../../contract/gen/apikeys/v1/api_key_pb.js";
import { checkView, launchBrowser } from "../support/browser.js";
import { addWorkspace, hidden, shown, signInsClosedAfterAll, tabTo } from "../support/page-session.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

let server: TestServer;
let browser: Browser;
let catalog: string[];
beforeAll(async () => {
  server = await startTestServer();
  browser = await launchBrowser();
  const owner = server.apiKeys(server.principals.owner);
  catalog = (await owner.listScopes({})).scopes.map((s) => s.name);
  await owner.createApiKey({ name: "Zapier (production)", access: AccessLevel.FULL });
  await owner.createApiKey({ name: "Snowflake export", access: AccessLevel.CUSTOM, scopes: ["orders:read", "reports:export"] });
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

const signInHere = signInsClosedAfterAll();
async function as(token: string): Promise<Page> {
  return (await signInHere(browser, server, token)).page;
}

/** The text of the tooltip open on the page, once one is. */
async function tooltipText(page: Page): Promise<string> {
  return (await (await shown(page.getByRole("tooltip"))).textContent()) ?? "";
}

const FUTURE_INCLUDED = /added in the future are included/i;

describe("the keys table", { timeout: 300_000 }, () => {
  it("lists each key with its name, hint, permissions, creation and 'never' when it was never used", async () => {
    const page = await as(server.principals.owner);
    const table = await shown(page.getByRole("table"));
    for (const column of ["Name", "Key", "Permissions", "Created", "Last used"]) {
      await shown(table.getByRole("columnheader", { name: column, exact: true }));
    }
    const { apiKeys } = await server.apiKeys(server.principals.owner).listApiKeys({});
    for (const key of apiKeys) {
      const row = await shown(table.getByRole("row", { name: new RegExp(key.name.replace(/[()]/g, "\\$&")) }));
      const text = await row.innerText();
      expect(text).toContain(key.hint);
      expect(text).toContain(key.access === AccessLevel.FULL ? "Full access" : "Custom");
      expect(text.toLowerCase()).toContain("never");
      expect(text).toContain("by you");
      expect(text).toContain(String(timestampDate(key.createTime!).getFullYear()));
    }
    await checkView(page, "keys-table");
  });

  it("names the creator of a key someone else created", async () => {
    const page = await as(server.principals.admin);
    const row = await shown(page.getByRole("row", { name: /Zapier \(production\)/ }));
    expect(await row.innerText()).toContain("by Olivia Owner");
  });

  // The scopes behind a badge appear for a mouse and for a keyboard alike.
  const reveal: Record<string, (page: Page, badge: Locator) => Promise<void>> = {
    hover: (_page, badge) => badge.hover(),
    "keyboard focus": (page, badge) => tabTo(page, badge),
  };
  for (const [how, open] of Object.entries(reveal)) {
    const view = how.replace(" ", "-");
    it(`on ${how}, Full access shows every scope in the catalog and that future scopes are included`, async () => {
      const page = await as(server.principals.admin);
      const row = await shown(page.getByRole("row", { name: /Zapier \(production\)/ }));
      expect(await page.getByRole("tooltip").count()).toBe(0);
      await open(page, row.getByRole("button", { name: "Full access" }));
      const text = await tooltipText(page);
      for (const scope of catalog) expect(text).toContain(scope);
      expect(text).toMatch(FUTURE_INCLUDED);
      await checkView(page, `keys-table-full-access-${view}`);
    });

    it(`on ${how}, Custom shows exactly the chosen scopes`, async () => {
      const page = await as(server.principals.owner);
      const row = await shown(page.getByRole("row", { name: /Snowflake export/ }));
      expect(await page.getByRole("tooltip").count()).toBe(0);
      await open(page, row.getByRole("button", { name: "Custom" }));
      const text = await tooltipText(page);
      const shownScopes = catalog.filter((scope) => text.includes(scope));
      expect(shownScopes.sort()).toEqual(["orders:read", "reports:export"]);
      expect(text).not.toMatch(FUTURE_INCLUDED);
      await checkView(page, `keys-table-custom-${view}`);
    });
  }

  it("pages through a workspace's hundreds of keys, each shown once", async () => {
    const token = await addWorkspace(server, "Initech");
    const client = server.apiKeys(token);
    const names = Array.from({ length: 250 }, (_, i) => `Batch job ${String(i + 1).padStart(3, "0")}`);
    for (const name of names) await client.createApiKey({ name, access: AccessLevel.FULL });
    const page = await as(token);
    const rows = page.getByRole("row", { name: /Batch job/ });
    await shown(rows);
    const firstPage = await rows.count();
    expect(firstPage).toBeLessThan(names.length);
    const more = page.getByRole("button", { name: /load more/i });
    for (let loaded = firstPage; loaded < names.length; ) {
      await more.click();
      await expect.poll(() => rows.count(), { timeout: 30_000 }).toBeGreaterThan(loaded);
      loaded = await rows.count();
    }
    await hidden(more);
    const seen = new Set((await rows.allInnerTexts()).map((row) => row.match(/Batch job \d{3}/)![0]));
    expect(await rows.count()).toBe(names.length);
    expect([...seen].sort()).toEqual(names);
  });

  it("explains what a key is for and offers to create one when the workspace has none", async () => {
    const page = await as(await addWorkspace(server, "Hooli"));
    await shown(page.getByRole("button", { name: "Create API key" }));
    expect(await page.getByRole("table").count()).toBe(0);
    expect(await page.getByRole("main").innerText()).toMatch(/no api keys yet/i);
    expect(await page.getByRole("main").innerText()).toMatch(/lets a program/i);
    await checkView(page, "keys-empty");
  });
});
