// Temporary folders for tests: made in the system's temporary folder and remembered, so that the
// test file that made them (directly or through a helper such as terraform.ts) removes them all
// once its tests are done, passed or failed: `afterAll(removeTempDirs)`.
import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

const made: string[] = [];

/** A fresh folder (mode 700) named `prefix` and six random characters, removed by removeTempDirs(). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes every folder tempDir() has made so far. */
export async function removeTempDirs(): Promise<void> {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}
