// The API keys page served on the HTTP port: index.html for the page's routes, hashed assets
// cached for good, a strict Content-Security-Policy, and a real browser that renders it under it.
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import * as http2 from "node:http2";
import path from "node:path";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../server/logger.js";
import { CONTENT_SECURITY_POLICY, createWebAssetsHandler, loadWebAssets } from "../server/web-assets.js";
import { startHttpServer } from "../server/http-server.js";
import { removeTempDirs, tempDir } from "./support/temp-dir.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const exec = promisify(execFile);
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
  await removeTempDirs();
});

/** The hashed assets index.html loads. */
function assetPaths(html: string): string[] {
  return [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
}

function expectSecurityHeaders(res: Response): void {
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(res.headers.get("referrer-policy")).toBe("no-referrer");
  expect(res.headers.get("content-security-policy")).toBe(CONTENT_SECURITY_POLICY);
}

describe("the page's routes", () => {
  it.each(["/settings/api-keys", "/sign-in", "/support/legacy-keys", "/settings/api-keys?tab=activity"])("GET %s answers index.html, never cached without revalidation", async (route) => {
    const res = await fetch(server.httpUrl + route);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expectSecurityHeaders(res);
    const html = await res.text();
    expect(html).toContain('<div id="root"></div>');
    expect(assetPaths(html).some((p) => p.endsWith(".js"))).toBe(true);
  });

  it("the Content-Security-Policy allows nothing inline, no eval and no framing", () => {
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).toContain("style-src 'self'");
    expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
  });

  it("index.html holds no inline script, style or handler, which the policy would block", async () => {
    const html = await (await fetch(server.httpUrl + "/sign-in")).text();
    for (const tag of html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)) {
      expect(tag[0]).toMatch(/\bsrc="/);
      expect(tag[1]!.trim()).toBe("");
    }
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
  });

  it("GET / redirects to /settings/api-keys", async () => {
    const res = await fetch(server.httpUrl + "/", { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/settings/api-keys");
  });

  it("a conditional GET with the ETag answers 304 without a body", async () => {
    const first = await fetch(server.httpUrl + "/settings/api-keys");
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^".+"$/);
    const again = await fetch(server.httpUrl + "/settings/api-keys", { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe("");
  });

  it("POST to a page answers 405 with Allow, and RPCs on the same port still work", async () => {
    const res = await fetch(server.httpUrl + "/settings/api-keys", { method: "POST", body: "x" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD");
    const scopes = await server.apiKeys(server.principals.owner).listScopes({});
    expect(scopes.scopes.length).toBeGreaterThan(0);
  });
});

describe("the hashed assets", () => {
  it("are served with their type, cached for a year as immutable, gzipped when asked", async () => {
    const html = await (await fetch(server.httpUrl + "/settings/api-keys")).text();
    const paths = assetPaths(html);
    expect(paths.some((p) => p.endsWith(".css"))).toBe(true);
    for (const p of paths) {
      expect(p).toMatch(/-[A-Za-z0-9_-]{8,}\.(js|css|svg)$/);
      const res = await fetch(server.httpUrl + p);
      expect(res.status, p).toBe(200);
      expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expectSecurityHeaders(res);
      const type = p.endsWith(".js") ? "text/javascript; charset=utf-8" : p.endsWith(".css") ? "text/css; charset=utf-8" : "image/svg+xml";
      expect(res.headers.get("content-type")).toBe(type);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(100);
    }
    // fetch() decodes gzip itself; node:http2 shows the wire.
    const js = paths.find((p) => p.endsWith(".js"))!;
    const session = http2.connect(server.httpUrl);
    try {
      const { headers, body } = await new Promise<{ headers: http2.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        const req = session.request({ ":path": js, "accept-encoding": "gzip" });
        const chunks: Buffer[] = [];
        let headers: http2.IncomingHttpHeaders = {};
        req.on("response", (h) => (headers = h));
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => resolve({ headers, body: Buffer.concat(chunks) }));
        req.on("error", reject);
      });
      expect(headers[":status"]).toBe(200);
      expect(headers["content-encoding"]).toBe("gzip");
      expect(headers["cache-control"]).toBe("public, max-age=31536000, immutable");
      const plain = await (await fetch(server.httpUrl + js, { headers: { "accept-encoding": "identity" } })).text();
      expect(gunzipSync(body).toString()).toBe(plain);
    } finally {
      session.close();
    }
  });

  it("an unknown asset answers 404, and paths outside the build are not served", async () => {
    for (const p of ["/assets/nope-12345678.js", "/assets/../package.json", "/assets/%2e%2e/package.json", "/web/dist/index.html"]) {
      const res = await fetch(server.httpUrl + p);
      expect(res.status, p).toBe(404);
      expect(await res.text(), p).not.toContain('"name"');
    }
  });
});

describe("without a build", () => {
  it("the page's routes say how to build it, and the rest of the port is untouched", async () => {
    const dir = tempDir("apikeys-web-");
    const assets = await loadWebAssets(dir);
    const listener = await startHttpServer({
      host: "127.0.0.1",
      port: 0,
      maxMessageBytes: 65536,
      log: createLogger("error"),
      routes: () => {},
      plainHandlers: [createWebAssetsHandler(assets, createLogger("error"))],
    });
    try {
      const res = await fetch(`http://127.0.0.1:${listener.port}/settings/api-keys`);
      expect(res.status).toBe(503);
      expect(await res.text()).toContain("npm run build:web");
      expect((await fetch(`http://127.0.0.1:${listener.port}/elsewhere`)).status).toBe(404);
    } finally {
      await listener.shutdown();
    }
  });
});

describe("in a browser", () => {
  it("chromium renders the sign-in page under the Content-Security-Policy", async () => {
    const profile = tempDir("apikeys-chromium-");
    await mkdir(path.join(profile, "p"), { recursive: true });
    const { stdout } = await exec(
      "chromium",
      ["--headless", "--no-sandbox", "--disable-gpu", `--user-data-dir=${path.join(profile, "p")}`, "--virtual-time-budget=10000", "--dump-dom", server.httpUrl + "/sign-in"],
      { timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
    );
    await writeFile(path.join(profile, "dom.html"), stdout);
    expect(stdout).toContain("Sign in to manage API keys");
    expect(stdout).toMatch(/<button[^>]*type="submit"[^>]*>Sign in<\/button>/);
  }, 120_000);
});
