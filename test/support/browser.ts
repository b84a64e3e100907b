// A real browser for the page's end-to-end tests: Debian's chromium driven by the Playwright
// library, accessibility checks with axe, screenshots of each view, and a record of the API calls
// a page makes.
//
// Playwright cannot download its browsers here, so it drives the system's `chromium` package
// (`.ci/run` installs it when missing) through `executablePath`. Playwright speaks CDP, which
// changes with Chromium releases, so its version follows Debian's chromium: Playwright 1.64.1 was
// built and tested against Chromium 156.0.8078 (its browsers.json), the release Debian 12 ships
// (156.0.8078.129, bookworm-security); 1.65 expects Chromium 159. When Debian moves to a new
// major release, move Playwright (and playwright-core, pinned with it) to the release whose
// browsers.json names it.
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright";

/** Where the tests save screenshots (ignored by git; CI keeps the folder as an artifact). */
export const SCREENSHOT_DIR = path.resolve("test-artifacts/screenshots");

/** The system's chromium: CHROMIUM_PATH when set, otherwise Debian's /usr/bin/chromium. */
export function chromiumPath(): string {
  const file = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  if (!existsSync(file)) {
    throw new Error(`no chromium at ${file}: install Debian's package (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH`);
  }
  return file;
}

/** Starts a headless chromium; close it in afterAll. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true });
}

/** Widths every view is photographed at: a laptop and a phone. */
export const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 },
} as const;

// What each context's pages said the Content-Security-Policy refused (chromium logs every refusal).
const cspRefusals = new WeakMap<BrowserContext, string[]>();

/** A fresh context (cookies, storage) on `baseURL`, allowed to use the clipboard. */
export async function newContext(browser: Browser, baseURL: string): Promise<BrowserContext> {
  const context = await browser.newContext({ baseURL, viewport: VIEWPORTS.desktop });
  const refusals: string[] = [];
  cspRefusals.set(context, refusals);
  context.on("console", (message) => {
    if (message.text().includes("Content Security Policy")) refusals.push(message.text());
  });
  // The copy button writes with the Clipboard API, and the test reads it back.
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: baseURL });
  return context;
}

/** An impact axe reports; the tests allow none of the two worst. */
const BLOCKING_IMPACTS = new Set(["serious", "critical"]);

/**
 * Checks the page as it is now with axe (WCAG 2.x A and AA rules and axe's best practices) and
 * throws, listing them, if any violation is serious or critical.
 */
export async function expectAccessible(page: Page, view: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const blocking = results.violations.filter((v) => BLOCKING_IMPACTS.has(v.impact ?? ""));
  if (blocking.length > 0) {
    const lines = blocking.flatMap((v) => [
      `${v.impact} ${v.id}: ${v.help} (${v.helpUrl})`,
      ...v.nodes.map((n) => `  ${n.target.join(" ")}: ${n.failureSummary?.replace(/\s+/g, " ") ?? ""}`),
    ]);
    throw new Error(`axe found serious or critical violations on ${view}:\n${lines.join("\n")}`);
  }
}

/**
 * Checks a view with axe and saves it at both widths as `<view>-desktop.png` and
 * `<view>-phone.png` (the whole page, or the viewport while a modal is open); the page is left
 * at the desktop width. Fails if the Content-Security-Policy has refused anything on the
 * context's pages so far.
 */
export async function checkView(page: Page, view: string): Promise<void> {
  const refused = cspRefusals.get(page.context()) ?? [];
  if (refused.length > 0) throw new Error(`the Content-Security-Policy refused something before ${view}:\n${refused.join("\n")}`);
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  for (const [name, size] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(size);
    await expectAccessible(page, `${view} (${name})`);
    // A modal's backdrop covers the viewport only, so a full-page picture of a modal shows the
    // page below it undimmed, which no one ever sees: photograph the viewport then.
    const fullPage = (await page.locator("dialog[open]").count()) === 0;
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${view}-${name}.png`), fullPage, animations: "disabled" });
  }
  await page.setViewportSize(VIEWPORTS.desktop);
}

/** The RPC paths (`/apikeys.v1.Service/Method`) a context has requested since it was made. */
export function recordRpcs(context: BrowserContext): string[] {
  const paths: string[] = [];
  context.on("request", (request) => {
    const { pathname } = new URL(request.url());
    if (/^\/[\w.]+\.\w+Service\/\w+$/.test(pathname)) paths.push(pathname);
  });
  return paths;
}
