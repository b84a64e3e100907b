// What a valid scope name is, and how a key's access level turns into the scopes it passes.
import type { Access } from "../api-key/api-key.table.js";

/** Scope names: lowercase resource and action, such as "orders:read". */
export const SCOPE_NAME = /^[a-z][a-z0-9_.-]{0,62}(:[a-z][a-z0-9_.-]{0,62})*$/;

/** The scopes a key passes now: FULL keys pass the whole current catalog. */
export function effectiveScopes(access: Access, granted: readonly string[], catalog: readonly string[]): string[] {
  return access === "full" ? [...catalog] : [...granted];
}

/** Required scopes the key does not pass. A scope absent from the catalog is never passed. */
export function missingScopes(
  access: Access,
  granted: readonly string[],
  catalog: ReadonlySet<string>,
  required: readonly string[],
): string[] {
  // Every verification asks this, mostly about a handful of scopes: short lists are scanned, which
  // costs less than building sets; long ones get sets, so that no request can make it quadratic.
  if (required.length > SHORT || (access !== "full" && granted.length > SHORT)) {
    const held = access === "full" ? catalog : new Set(granted);
    return [...new Set(required)].filter((scope) => !held.has(scope));
  }
  let missing: string[] | undefined;
  for (let i = 0; i < required.length; i++) {
    const scope = required[i]!;
    const held = access === "full" ? catalog.has(scope) : granted.includes(scope);
    // Each scope once, where it first appears.
    if (!held && required.indexOf(scope) === i) (missing ??= []).push(scope);
  }
  return missing ?? [];
}

const SHORT = 16;
