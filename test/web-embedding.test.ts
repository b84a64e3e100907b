// @apikeys/web as a host product uses it: the README's snippet and web/example type-check against
// the package's entry point (resolved through node_modules, as a consumer resolves it), and the
// example host builds.
import { execFile } from "node:child_process";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { removeTempDirs, tempDir } from "./support/temp-dir.js";

const exec = promisify(execFile);
const tsc = path.resolve("node_modules/.bin/tsc");
const checkDir = path.resolve("web/example/.readme-check");

afterAll(async () => {
  await rm(checkDir, { recursive: true, force: true });
  await removeTempDirs();
});

async function typecheck(project: string): Promise<string> {
  return exec(tsc, ["--noEmit", "-p", project]).then(
    ({ stdout }) => stdout,
    (err: { stdout: string }) => err.stdout,
  );
}

describe("Embedding the page", () => {
  it("the README's snippet type-checks as a consumer of @apikeys/web", async () => {
    const readme = await readFile("README.md", "utf8");
    const section = readme.split("### Embedding the page")[1]!.split("\n## ")[0]!;
    const snippet = /```tsx\n([\s\S]*?)```/.exec(section)?.[1];
    expect(snippet).toContain('from "@apikeys/web"');
    await mkdir(checkDir, { recursive: true });
    await writeFile(path.join(checkDir, "snippet.tsx"), snippet!);
    await writeFile(path.join(checkDir, "tsconfig.json"), JSON.stringify({ extends: "../tsconfig.json", include: ["snippet.tsx"] }));
    expect(await typecheck(checkDir)).toBe("");
  }, 120_000);

  it("a consumer passing a wrong prop is told so by the types", async () => {
    await mkdir(checkDir, { recursive: true });
    await writeFile(path.join(checkDir, "wrong.tsx"), 'import { ApiKeysPage } from "@apikeys/web";\nexport const page = <ApiKeysPage transport={"not a transport"} />;\n');
    await writeFile(path.join(checkDir, "tsconfig.json"), JSON.stringify({ extends: "../tsconfig.json", include: ["wrong.tsx"] }));
    expect(await typecheck(checkDir)).toMatch(/wrong\.tsx.*error TS2322/);
  }, 120_000);

  it("web/example type-checks and builds", async () => {
    expect(await typecheck("web/example")).toBe("");
    const out = tempDir("apikeys-example-");
    await exec(path.resolve("node_modules/.bin/vite"), ["build", "--config", "web/example/vite.config.ts", "--outDir", out, "--logLevel", "error"]);
    const html = await readFile(path.join(out, "index.html"), "utf8");
    const script = /src="\/assets\/([^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const files = await readdir(path.join(out, "assets"));
    expect(files).toContain(script);
    expect(files.some((f) => f.endsWith(".css"))).toBe(true);
    // The page's own styles are in the host's bundle (the host imported them).
    const css = (await Promise.all(files.filter((f) => f.endsWith(".css")).map((f) => readFile(path.join(out, "assets", f), "utf8")))).join("");
    expect(css).toContain(".ak-root");
    expect(css).toContain(".host-nav");
  }, 180_000);
});
