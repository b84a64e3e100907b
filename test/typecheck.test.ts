// The whole project type-checks under strict settings (vitest itself only strips types).
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

describe("TypeScript", () => {
  it("tsc --noEmit reports no errors", async () => {
    const result = await promisify(execFile)(path.resolve("node_modules/.bin/tsc"), ["--noEmit", "-p", "."]).then(
      ({ stdout }) => stdout,
      (err: { stdout: string }) => err.stdout,
    );
    expect(result).toBe("");
  }, 120_000);
});
