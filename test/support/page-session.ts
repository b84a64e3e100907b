// A browser signed in to the API keys page the way a person does it: a fresh context (no cookies,
// no storage), the sign-in form, a principal token.
import type { Browser, BrowserContext, Locator, Page } from "playwright";
import { afterAll } from "vitest";
import { createHasher } from "../../server/hashing.js";
import { createWorkspaceWithOwner } from "../../server/principal/principal.admin.js";
import { newContext, recordRpcs } from "./browser.js";
import type { TestServer } from "./test-server.js";

/** One person's browser: its context, its page, and the RPCs it requested. */
export interface SignedIn {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Every RPC path the context requested, in order. */
  readonly rpcs: string[];
}

/** Opens `/sign-in` in a fresh context and signs in with `token`; resolves once the sign-in page is gone. */
export async function signIn(browser: Browser, server: TestServer, token: string): Promise<SignedIn> {
  const context = await newContext(browser, server.httpUrl);
  const rpcs = recordRpcs(context);
  const page = await context.newPage();
  await page.goto("/sign-in");
  await submitSignIn(page, token);
  return { context, page, rpcs };
}

/**
 * `signIn` for one test file: every context it opens is closed after the file's tests. Call it at
 * the top of the file.
 */
export function signInsClosedAfterAll(): (browser: Browser, server: TestServer, token: string) => Promise<SignedIn> {
  const open: SignedIn[] = [];
  afterAll(() => Promise.all(open.map((s) => s.context.close())));
  return async (browser, server, token) => {
    const signedIn = await signIn(browser, server, token);
    open.push(signedIn);
    return signedIn;
  };
}

/** Fills the sign-in form on `page` with `token` and waits until the page has left /sign-in. */
export async function submitSignIn(page: Page, token: string): Promise<void> {
  await tokenField(page).fill(token);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL((url) => url.pathname !== "/sign-in");
}

/** The sign-in form's token field. */
export function tokenField(page: Page): Locator {
  return page.getByLabel(/token/i);
}

/** Resolves once `locator` is visible. */
export async function shown(locator: Locator): Promise<Locator> {
  await locator.first().waitFor({ state: "visible" });
  return locator;
}

/** Resolves once nothing matches `locator` (or nothing that matches is visible). */
export async function hidden(locator: Locator): Promise<void> {
  await locator.first().waitFor({ state: "hidden" });
}

/** Creates a workspace of its own (no keys) with an owner, and returns the owner's token. */
export async function addWorkspace(server: TestServer, name: string): Promise<string> {
  const hasher = createHasher(server.config.argon2);
  return (await createWorkspaceWithOwner(server.app.db, hasher, { name, ownerName: `${name} Owner` })).token;
}

/**
 * Moves the keyboard focus to `target` with the Tab key alone, as a keyboard user does (not
 * `focus()`, which skips focus-visible and the order of the page); fails if 100 presses never get there.
 */
export async function tabTo(page: Page, target: Locator): Promise<void> {
  await target.waitFor({ state: "visible" });
  for (let press = 0; press < 100; press++) {
    await page.keyboard.press("Tab");
    if (await target.evaluate((element) => element.matches(":focus-within") || element.closest(":focus") !== null)) return;
  }
  throw new Error("100 presses of Tab never focused the element");
}
