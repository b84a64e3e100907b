// The whole project type-checks under strict settings (vitest itself only strips types).
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

describe("TypeScript", () => {
  it.each([".", "web", "web/example"])("tsc --noEmit -p %s reports no errors", async (project) => {
    const result = await promisify(execFile)(path.resolve("node_modules/.bin/tsc"), ["--noEmit", "-p", project]).then(
      ({ stdout }) => stdout,
      (err: { stdout: string }) => err.stdout,
    );
    expect(result).toBe("");
  }, 120_000);
});
