// missingScopes on its own: its scan of short lists must answer exactly as the sets it uses for long
// ones, for FULL and CUSTOM keys, with repeats, and on both sides of the length where it switches.
import { describe, expect, it } from "vitest";
import { missingScopes } from "../server/scope/scope-rules.js";

// A fixed seed: a failure is reproducible.
let seed = 20261127;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const NAMES = Array.from({ length: 40 }, (_, i) => `resource${i % 8}:action${Math.floor(i / 8)}`);
const someNames = (max: number) => Array.from({ length: Math.floor(random() * (max + 1)) }, () => NAMES[Math.floor(random() * NAMES.length)]!);

/** The definition: each required scope the key does not pass, once, in the order first asked. */
function reference(access: "full" | "custom", granted: readonly string[], catalog: ReadonlySet<string>, required: readonly string[]): string[] {
  const held = access === "full" ? catalog : new Set(granted);
  return [...new Set(required)].filter((scope) => !held.has(scope));
}

describe("missingScopes", () => {
  it("answers as the definition for short and long lists, repeats included", () => {
    for (let i = 0; i < 5000; i++) {
      const access = random() < 0.5 ? "full" : "custom";
      const granted = someNames(i % 2 ? 6 : 40);
      const catalog = new Set(someNames(30));
      const required = someNames(i % 3 ? 6 : 40);
      expect(missingScopes(access, granted, catalog, required)).toEqual(reference(access, granted, catalog, required));
    }
  });

  it("names a scope missing once however often it is asked for", () => {
    expect(missingScopes("custom", ["orders:read"], new Set(), ["orders:write", "orders:read", "orders:write"])).toEqual(["orders:write"]);
    expect(missingScopes("full", [], new Set(["orders:read"]), ["orders:read", "orders:read"])).toEqual([]);
  });
});
