// Who sees what, in a real browser: owners and admins see their workspace's keys, a member sees
// why not (and the page asks for no key data), support staff look up and revoke a workspace's
// legacy key, and nobody else sees that key anywhere.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright";
import { AccessLevel } from "../../contract/gen/apikeys/v1/api_key_pb.js";
import { VerificationStatus } from "../../contract/gen/apikeys/v1/api_key_service_pb.js";
import { createHasher } from "../../server/hashing.js";
import { importLegacyKey } from "../../server/legacy/legacy-import.js";
import { checkView, launchBrowser } from "../support/browser.js";
import { hidden, shown, type SignedIn, signInsClosedAfterAll } from "../support/page-session.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const LEGACY = "sk_live_51HxQeLegacyAccountKey0123456789";
const LEGACY_HINT = "sk_l…6789";

let server: TestServer;
let browser: Browser;
beforeAll(async () => {
  server = await startTestServer();
  browser = await launchBrowser();
  await server.apiKeys(server.principals.owner).createApiKey({ name: "Acme billing sync", access: AccessLevel.FULL });
  await server.apiKeys(server.principals.otherOwner).createApiKey({ name: "Globex warehouse", access: AccessLevel.FULL });
  await importLegacyKey(server.app.db, createHasher(server.config.legacyArgon2), { workspaceId: server.principals.workspaceId, secret: LEGACY });
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

const signInHere = signInsClosedAfterAll();
async function as(token: string): Promise<SignedIn> {
  return signInHere(browser, server, token);
}

const MEMBER_MESSAGE = "Only Owners and Admins have access to the API keys management page";

describe("who sees the API keys page", { timeout: 300_000 }, () => {
  for (const who of ["owner", "admin"] as const) {
    it(`shows the ${who} their own workspace's keys, never another's nor the legacy key`, async () => {
      const { page } = await as(server.principals[who]);
      await shown(page.getByRole("row", { name: /Acme billing sync/ }));
      const text = await page.locator("body").innerText();
      expect(text).not.toContain("Globex warehouse");
      expect(text).not.toContain(LEGACY_HINT);
      expect(text).not.toContain(MEMBER_MESSAGE);
    });
  }

  it("tells a member that only owners and admins have access, and fetches no key data", async () => {
    const { page, rpcs } = await as(server.principals.member);
    await page.goto("/settings/api-keys");
    await shown(page.getByText(MEMBER_MESSAGE));
    await checkView(page, "member-no-access");
    expect(rpcs.length).toBeGreaterThan(0); // the recorder saw the page's own calls (its session)
    expect(rpcs.filter((path) => path.startsWith("/apikeys.v1.ApiKeyService/"))).toEqual([]);
    expect(await page.getByRole("button", { name: "Create API key" }).count()).toBe(0);
  });

  it("keeps the support page from owners, admins and members", async () => {
    for (const who of ["owner", "admin", "member"] as const) {
      const { page } = await as(server.principals[who]);
      await page.goto("/support/legacy-keys");
      await page.getByRole("textbox", { name: "Workspace ID" }).fill(server.principals.workspaceId);
      await page.getByRole("button", { name: "Look up" }).click();
      expect(await (await shown(page.getByRole("alert"))).innerText()).toMatch(/only support staff/i);
      expect(await page.locator("body").innerText()).not.toContain(LEGACY_HINT);
    }
  });

  it("lets support staff look up a workspace's legacy key (metadata only) and revoke it after a confirmation", async () => {
    const { page } = await as(server.principals.support);
    await page.waitForURL("**/support/legacy-keys");
    await page.getByRole("textbox", { name: "Workspace ID" }).fill(server.principals.workspaceId);
    await page.getByRole("button", { name: "Look up" }).click();
    await shown(page.getByText(LEGACY_HINT));
    expect(await page.locator("body").innerText()).not.toContain(LEGACY);
    await checkView(page, "support-legacy-key");
    await page.getByRole("button", { name: "Revoke" }).click();
    const confirm = await shown(page.getByRole("alertdialog"));
    expect(await confirm.innerText()).toContain(LEGACY_HINT);
    await checkView(page, "support-legacy-key-revoke-confirmation");
    await confirm.getByRole("button", { name: "Revoke key" }).click();
    await hidden(page.getByRole("alertdialog"));
    await shown(page.getByText(/^Revoked/));
    const verified = await server.apiKeys(server.principals.service).verifyApiKey({ key: LEGACY });
    expect(verified.status).not.toBe(VerificationStatus.VALID);
  });
});
