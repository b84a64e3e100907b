// The API contract: buf lint passes, and the committed generated code matches the .proto files.
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const buf = path.resolve("node_modules/.bin/buf");

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

describe("proto", () => {
  it("passes buf lint (STANDARD and COMMENTS)", async () => {
    const { stdout, stderr } = await run(buf, ["lint"]);
    expect(stdout + stderr).toBe("");
  });

  it("has no breaking change against the last commit (buf breaking, FILE rules)", async () => {
    const { stdout, stderr } = await run(buf, ["breaking", "--against", ".git#ref=HEAD"]);
    expect(stdout + stderr).toBe("");
  });

  // Each buf template writes one output directory; `npm run generate` runs both.
  it.each([
    ["buf.gen.yaml", "contract/gen", "proto/"],
    ["buf.gen.provider.yaml", "provider/gen", "provider/proto/"],
  ])("generated code from %s in %s is current: run `npm run generate` after changing %s", async (template, dir) => {
    const out = await mkdtemp(path.join(tmpdir(), "apikeys-gen-"));
    try {
      await run(buf, ["generate", "--template", template, "--output", out]);
      const fresh = path.join(out, dir);
      const files = await listFiles(fresh);
      expect(files).toEqual(await listFiles(dir));
      for (const file of files) {
        expect(await readFile(path.join(dir, file), "utf8"), file).toBe(await readFile(path.join(fresh, file), "utf8"));
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
