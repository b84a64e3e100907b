// Changing a key in a real browser: edit (and an edit gone stale), delete, rotate with a grace
// period, and the activity that records them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright";
import { AccessLevel } from "../../contract/gen/apikeys/v1/api_key_pb.js";
import { VerificationStatus } from "../../contract/gen/apikeys/v1/api_key_service_pb.js";
import { checkView, launchBrowser } from "../support/browser.js";
import { hidden, shown, signInsClosedAfterAll } from "../support/page-session.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

let server: TestServer;
let browser: Browser;
beforeAll(async () => {
  server = await startTestServer();
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

const signInHere = signInsClosedAfterAll();
async function as(token: string): Promise<Page> {
  return (await signInHere(browser, server, token)).page;
}

const SECRET = /\bak_[0-9A-Za-z]{50}\b/;

/** A key made through the API by the owner: its id and secret. */
async function createKey(name: string, access = AccessLevel.CUSTOM, scopes = ["orders:read"]) {
  const created = await server.apiKeys(server.principals.owner).createApiKey({ name, access, scopes: access === AccessLevel.FULL ? [] : scopes });
  return { id: created.apiKey!.id, secret: created.secret };
}

const verify = async (secret: string) => (await server.apiKeys(server.principals.service).verifyApiKey({ key: secret })).status;
const rowOf = (page: Page, name: string) => page.getByRole("row", { name: new RegExp(name.replace(/[()]/g, "\\$&")) });

describe("managing a key", { timeout: 300_000 }, () => {
  it("edits a key's name and permissions, which apply immediately, without showing its secret", async () => {
    const key = await createKey("Looker staging reports");
    const page = await as(server.principals.owner);
    await (await shown(rowOf(page, "Looker staging reports"))).getByRole("button", { name: "Edit" }).click();
    const dialog = await shown(page.getByRole("dialog"));
    expect(await dialog.innerText()).toMatch(/changes apply immediately/i);
    expect(await dialog.innerText()).not.toMatch(SECRET);
    await checkView(page, "edit-key");
    await dialog.getByRole("textbox", { name: /^Name/ }).fill("Looker production reports");
    await dialog.getByRole("checkbox", { name: /reports:export/ }).check();
    await dialog.getByRole("button", { name: /^Save/ }).click();
    await hidden(page.getByRole("dialog"));
    await shown(rowOf(page, "Looker production reports"));
    const { apiKey } = await server.apiKeys(server.principals.owner).getApiKey({ id: key.id });
    expect(apiKey).toMatchObject({ name: "Looker production reports", scopes: ["orders:read", "reports:export"] });
  });

  it("refuses an edit gone stale, says so, and shows the fresh values instead of overwriting them", async () => {
    const key = await createKey("Segment sync");
    const page = await as(server.principals.admin);
    await (await shown(rowOf(page, "Segment sync"))).getByRole("button", { name: "Edit" }).click();
    const dialog = await shown(page.getByRole("dialog"));
    const name = dialog.getByRole("textbox", { name: /^Name/ });
    await name.waitFor();
    // Someone else renames the key meanwhile.
    await server.apiKeys(server.principals.owner).updateApiKey({ apiKey: { id: key.id, name: "Segment sync (production)" }, updateMask: { paths: ["name"] } });
    await name.fill("Segment sync (staging)");
    await dialog.getByRole("button", { name: /^Save/ }).click();
    expect(await (await shown(dialog.getByRole("alert"))).innerText()).toMatch(/changed this key/i);
    await expect.poll(() => name.inputValue()).toBe("Segment sync (production)");
    await checkView(page, "edit-key-stale");
    const { apiKey } = await server.apiKeys(server.principals.owner).getApiKey({ id: key.id });
    expect(apiKey!.name).toBe("Segment sync (production)");
  });

  it("deletes a key after a confirmation that names it; the row goes and the key is revoked", async () => {
    const key = await createKey("Zapier (production)", AccessLevel.FULL);
    const page = await as(server.principals.owner);
    await (await shown(rowOf(page, "Zapier (production)"))).getByRole("button", { name: "Delete" }).click();
    const confirm = await shown(page.getByRole("alertdialog"));
    const text = await confirm.innerText();
    expect(text).toContain("Zapier (production)");
    expect(text).toMatch(/immediate/i);
    expect(text).toMatch(/cannot be undone/i);
    expect(text).toMatch(/lose access/i);
    await checkView(page, "delete-key-confirmation");
    await confirm.getByRole("button", { name: "Delete" }).click();
    await hidden(rowOf(page, "Zapier (production)"));
    expect(await verify(key.secret)).toBe(VerificationStatus.REVOKED);
  });

  it("rotates a key: the new secret is shown once and the old one keeps working through the grace period", async () => {
    const key = await createKey("Fivetran ingest");
    const page = await as(server.principals.owner);
    await (await shown(rowOf(page, "Fivetran ingest"))).getByRole("button", { name: "Rotate" }).click();
    const dialog = await shown(page.getByRole("dialog"));
    expect(await dialog.innerText()).toMatch(/grace period/i);
    await dialog.getByRole("combobox", { name: /old secret/i }).selectOption({ label: "1 hour" });
    await checkView(page, "rotate-key");
    await dialog.getByRole("button", { name: "Rotate" }).click();
    const secret = (await (await shown(dialog.getByText(SECRET))).innerText()).match(SECRET)![0];
    expect(secret).not.toBe(key.secret);
    expect(await dialog.innerText()).toMatch(/old secret keeps working for 1 hour/i);
    await checkView(page, "rotate-key-secret");
    expect(await verify(secret)).toBe(VerificationStatus.VALID);
    expect(await verify(key.secret)).toBe(VerificationStatus.VALID);
    const { apiKey } = await server.apiKeys(server.principals.owner).getApiKey({ id: key.id });
    expect(apiKey!.previousSecretExpireTime).toBeDefined();
  });

  it("shows the workspace's activity: who created, edited, rotated and deleted which key", async () => {
    const page = await as(server.principals.owner);
    await page.getByRole("tab", { name: "Activity" }).click();
    const activity = await shown(page.getByRole("tabpanel", { name: "Activity" }));
    await shown(activity.getByText(/Zapier \(production\)/).first());
    const text = await activity.innerText();
    for (const action of ["created", "edited", "rotated", "deleted"]) expect(text).toContain(action);
    expect(text).toContain("Olivia Owner");
    await checkView(page, "activity");

    // One key's own activity, in its edit dialog: its creation and rotation, nobody else's events.
    await page.getByRole("tab", { name: "Keys" }).click();
    await (await shown(rowOf(page, "Fivetran ingest"))).getByRole("button", { name: "Edit" }).click();
    const own = await shown(page.getByRole("dialog").getByRole("region", { name: "Activity of this key" }));
    await shown(own.getByText(/rotated/));
    const ownText = await own.innerText();
    expect(ownText).toMatch(/created the key .Fivetran ingest./);
    expect(ownText).not.toContain("Zapier (production)");
    await own.scrollIntoViewIfNeeded(); // below the form in the dialog's own scroll
    await checkView(page, "edit-key-activity");
  });
});
