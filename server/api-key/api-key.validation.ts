// Input rules for keys. Each returns field violations rather than throwing, so one response can
// name every problem at once.
import { AccessLevel } from "../../contract/gen/apikeys/v1/api_key_pb.js";
import { describeNameProblem } from "../../contract/key-name.js";
import type { FieldViolation } from "../errors.js";
import { accessFromProto } from "./api-key.mapper.js";
import type { Access } from "./api-key.table.js";

export const SCOPES_MAX = 200;

/** Trims and checks a key name. */
export function checkName(raw: string, violations: FieldViolation[], field = "name"): string {
  const name = raw.trim();
  const problem = describeNameProblem(name);
  if (problem !== undefined) violations.push({ field, description: problem });
  return name;
}

/** Checks the access level; undefined when it is missing or unknown. */
export function checkAccess(level: AccessLevel, violations: FieldViolation[], field = "access"): Access | undefined {
  const access = accessFromProto(level);
  if (!access) {
    violations.push({ field, description: "must be ACCESS_LEVEL_FULL (every scope, including later ones) or ACCESS_LEVEL_CUSTOM (only the listed scopes)" });
  }
  return access;
}

/** Deduplicates scopes and checks them against the access level and the catalog. */
export function checkScopes(
  access: Access | undefined,
  raw: readonly string[],
  catalog: readonly string[],
  violations: FieldViolation[],
  field = "scopes",
): string[] {
  const scopes = [...new Set(raw)];
  if (scopes.length > SCOPES_MAX) {
    violations.push({ field, description: `must list at most ${SCOPES_MAX} scopes, got ${scopes.length}` });
    return scopes;
  }
  if (access === "full" && scopes.length > 0) {
    violations.push({ field, description: "must be empty for ACCESS_LEVEL_FULL, which passes every scope; use ACCESS_LEVEL_CUSTOM to choose scopes" });
    return [];
  }
  const valid = `valid scopes: ${catalog.join(", ") || "(the catalog is empty; add scopes with `apikeys scopes add`)"}`;
  if (access === "custom" && scopes.length === 0) {
    violations.push({ field, description: `ACCESS_LEVEL_CUSTOM needs at least one scope; ${valid}` });
  }
  const known = new Set(catalog);
  raw.forEach((scope, i) => {
    if (!known.has(scope) && raw.indexOf(scope) === i) {
      violations.push({ field: `${field}[${i}]`, description: `unknown scope ${JSON.stringify(scope.slice(0, 100))}; ${valid}` });
    }
  });
  return scopes.sort();
}
