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
  const held = access === "full" ? catalog : new Set(granted);
  return [...new Set(required)].filter((scope) => !held.has(scope));
}
