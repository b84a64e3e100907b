// How a person's claims from the OpenID provider map to a principal here: which workspace, and
// which role (or support staff). Pure: the caller checks that the workspace exists.
import type { OidcConfig } from "../config.js";
import type { Role } from "../principal/principal.table.js";

/** Who the claims say the person is. */
export type MappedPrincipal = { readonly kind: "member"; readonly workspaceId: string; readonly role: Role } | { readonly kind: "support" };

/** Claims that map to nothing: the code the browser is sent, and for the log what to fix (no claim values). */
export interface ClaimRefusal {
  readonly refused: "oidc_no_workspace" | "oidc_no_role";
  readonly detail: string;
}

type Mapping = Pick<OidcConfig, "workspace" | "roleClaim" | "roleValues">;

/** Maps claims to a principal; support staff first, then the highest role among owner, admin, member. */
export function mapClaims(claims: Readonly<Record<string, unknown>>, mapping: Mapping): MappedPrincipal | ClaimRefusal {
  const values = new Set(claimStrings(claimAt(claims, mapping.roleClaim)));
  const has = (wanted: ReadonlySet<string>) => [...wanted].some((v) => values.has(v));
  if (has(mapping.roleValues.support)) return { kind: "support" };
  const role: Role | undefined = has(mapping.roleValues.owner)
    ? "owner"
    : has(mapping.roleValues.admin)
      ? "admin"
      : has(mapping.roleValues.member)
        ? "member"
        : undefined;
  if (!role) {
    return {
      refused: "oidc_no_role",
      detail: `claim "${mapping.roleClaim}" holds none of the values set in APIKEYS_OIDC_OWNER_VALUES, APIKEYS_OIDC_ADMIN_VALUES, APIKEYS_OIDC_MEMBER_VALUES or APIKEYS_OIDC_SUPPORT_VALUES (${values.size} value(s) present)`,
    };
  }
  if ("fixed" in mapping.workspace) return { kind: "member", workspaceId: mapping.workspace.fixed, role };
  const [workspaceId, ...more] = claimStrings(claimAt(claims, mapping.workspace.claim));
  if (!workspaceId || more.length > 0) {
    return {
      refused: "oidc_no_workspace",
      detail: `claim "${mapping.workspace.claim}" (APIKEYS_OIDC_WORKSPACE_CLAIM) must hold one workspace id; it holds ${workspaceId ? "several" : "none"}`,
    };
  }
  return { kind: "member", workspaceId, role };
}

/**
 * A claim by name; a name with dots that is not itself a claim walks into objects
 * ("realm_access.roles"), while namespaced names such as "https://example.com/groups" match whole.
 */
function claimAt(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  let value: unknown = claims;
  for (const part of name.split(".")) {
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** A claim's string values: a string is one value, an array its strings; anything else none. */
function claimStrings(value: unknown): string[] {
  if (typeof value === "string") return value === "" ? [] : [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string" && v !== "");
  return [];
}
