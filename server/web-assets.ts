// Serves the API keys page built by web/build.ts (web/dist) on the HTTP port: index.html for the
// page's routes, hashed files under /assets/. Files are read once at start and kept in memory
// (a few hundred kilobytes), gzipped when that helps, so no request touches the disk or can name
// a path outside the build.
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import type { Logger } from "./logger.js";
import type { PlainHandler, Request as PlainRequest, Response as PlainResponse } from "./http-server.js";

/** Where web/build.ts writes the page, relative to this file (server/ and dist/ are both one level down). */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL("../web/dist/", import.meta.url));

/** The page's routes: each answers index.html, and the page shows the matching view. */
export const PAGE_ROUTES: readonly string[] = ["/settings/api-keys", "/sign-in", "/support/legacy-keys"];

/**
 * The page's Content-Security-Policy: scripts, styles and calls from this origin only, nothing
 * inline, no eval, no framing (a host product embeds the page as a package, not in an iframe).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

const IMMUTABLE = "public, max-age=31536000, immutable";

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

interface Asset {
  readonly body: Buffer;
  readonly gzipped: Buffer | undefined;
  readonly type: string;
  readonly etag: string;
}

/** The built page in memory: index.html and the files under assets/, by URL path. */
export interface WebAssets {
  readonly index: Asset | undefined;
  readonly files: ReadonlyMap<string, Asset>;
}

/** Reads the build in `dir`; a missing build yields no files (the page routes then say how to build it). */
export async function loadWebAssets(dir = DEFAULT_WEB_DIR): Promise<WebAssets> {
  const files = new Map<string, Asset>();
  let index: Asset | undefined;
  try {
    index = toAsset(await readFile(path.join(dir, "index.html")), ".html");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    return { index: undefined, files };
  }
  const assetsDir = path.join(dir, "assets");
  const names = await readdir(assetsDir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of names) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    const urlPath = "/assets/" + path.relative(assetsDir, full).split(path.sep).join("/");
    files.set(urlPath, toAsset(await readFile(full), path.extname(entry.name)));
  }
  return { index, files };
}

function toAsset(body: Buffer, extension: string): Asset {
  const type = TYPES[extension] ?? "application/octet-stream";
  const compressible = /^(text\/|image\/svg|application\/json)/.test(type) && body.length > 1024;
  const gzipped = compressible ? gzipSync(body, { level: 9 }) : undefined;
  return { body, type, gzipped: gzipped && gzipped.length < body.length ? gzipped : undefined, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"` };
}

/** The plain handler for the page: `/`, the page's routes, and `/assets/…`. */
export function createWebAssetsHandler(assets: WebAssets, log: Logger): PlainHandler {
  if (!assets.index) log.warn("the API keys page is not built: its routes answer 503; run `npm run build:web`");
  return (req, res) => {
    const urlPath = (req.url ?? "").split("?", 1)[0] ?? "";
    const isPage = PAGE_ROUTES.includes(urlPath) || PAGE_ROUTES.includes(urlPath.replace(/\/$/, ""));
    if (urlPath !== "/" && !isPage && !urlPath.startsWith("/assets/")) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(req, res, 405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }, "Method not allowed: use GET.\n");
      return true;
    }
    if (urlPath === "/") {
      send(req, res, 302, { location: PAGE_ROUTES[0]!, "cache-control": "no-cache" }, "");
      return true;
    }
    if (isPage) {
      if (!assets.index) send(req, res, 503, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }, "The API keys page is not built. Run `npm run build:web` (npm ci and npm start do it) and restart the server.\n");
      else sendAsset(req, res, assets.index, "no-cache");
      return true;
    }
    const asset = assets.files.get(urlPath);
    if (asset) sendAsset(req, res, asset, IMMUTABLE);
    else send(req, res, 404, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }, "Not found.\n");
    return true;
  };
}

function sendAsset(req: PlainRequest, res: PlainResponse, asset: Asset, cacheControl: string): void {
  const headers: Record<string, string> = { "content-type": asset.type, "cache-control": cacheControl, etag: asset.etag, vary: "accept-encoding" };
  if (req.headers["if-none-match"] === asset.etag) {
    send(req, res, 304, headers, "");
    return;
  }
  const gzip = asset.gzipped && /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
  if (gzip) headers["content-encoding"] = "gzip";
  send(req, res, 200, headers, gzip ? asset.gzipped! : asset.body);
}

function send(req: PlainRequest, res: PlainResponse, status: number, headers: Record<string, string>, body: Buffer | string): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries({ ...SECURITY_HEADERS, ...headers })) res.setHeader(name, value);
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  if (status !== 304) res.setHeader("content-length", String(bytes.length));
  // Node's http and http2 compatibility responses share end(); the union's overloads do not.
  (res as { end(chunk?: Buffer): void }).end(req.method === "HEAD" || status === 304 ? undefined : bytes);
}
