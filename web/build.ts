// Builds the standalone page (web/index.html and its hashed assets) into web/dist, which the
// server serves on its HTTP port. Run by `npm ci` (prepare), `npm start` and the tests' global setup.
//
//   npm run build:web
import { createHash } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** Where the built page lives: index.html and assets/. */
export const WEB_DIST = path.join(here, "dist");

// What the build reads besides node_modules: the page's sources and the generated contract.
const INPUTS = ["src", "index.html", "build.ts", "../contract", "../package-lock.json"];
const STAMP = ".source-hash";

/**
 * Builds the page into `outDir`, quietly (warnings and errors only). Skipped when the build there
 * was made from the same sources (a hash of them is kept beside it), so `npm start` stays fast.
 */
export async function buildWeb(outDir = WEB_DIST): Promise<void> {
  const hash = await hashInputs();
  const previous = await readFile(path.join(outDir, STAMP), "utf8").catch(() => "");
  if (previous === hash) return;
  const { build } = await import("vite"); // loaded only when there is something to build
  await build({
    root: here,
    configFile: false,
    logLevel: "warn",
    base: "/",
    build: {
      outDir,
      emptyOutDir: true,
      // The polyfill would be an inline script, which the Content-Security-Policy forbids.
      modulePreload: { polyfill: false },
      // Inlined assets become data: URLs; keep every asset a file under /assets/ instead.
      assetsInlineLimit: 0,
      sourcemap: false,
      target: "es2022",
      rolldownOptions: {
        // React libraries mark modules "use client" for server components; a browser bundle has
        // no server components, so the directive means nothing here.
        onwarn(warning, warn) {
          if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
        },
      },
    },
  });
  await writeFile(path.join(outDir, STAMP), hash);
}

async function hashInputs(): Promise<string> {
  const hash = createHash("sha256");
  for (const input of INPUTS) {
    const full = path.join(here, input);
    const entries = await readdir(full, { recursive: true, withFileTypes: true }).catch(() => undefined);
    const files = entries ? entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)) : [full];
    for (const file of files.sort()) {
      hash.update(path.relative(here, file)).update("\0").update(await readFile(file)).update("\0");
    }
  }
  return hash.digest("hex");
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildWeb();
}
