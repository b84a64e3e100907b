// The scope catalog is seeded from a JSON file: [{"name": "orders:read", "description": "..."}].
import { readFile } from "node:fs/promises";
import { SCOPE_NAME } from "./scope-rules.js";

export interface ScopeSeed {
  name: string;
  description: string;
}

/** Reads and validates a scope catalog file; the error names the file and the entry to fix. */
export async function readScopeCatalogFile(path: string): Promise<ScopeSeed[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new Error(`cannot read scope catalog ${path}: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new Error(`scope catalog ${path} must be a JSON array of {name, description}`);
  return parsed.map((entry: unknown, i) => {
    const { name, description = "" } = (entry ?? {}) as { name?: unknown; description?: unknown };
    if (typeof name !== "string" || !SCOPE_NAME.test(name) || typeof description !== "string") {
      throw new Error(
        `scope catalog ${path}, entry ${i}: need {"name": "resource:action", "description": "..."} with a lowercase name such as "orders:read"`,
      );
    }
    return { name, description };
  });
}
