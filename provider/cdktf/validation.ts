// Synth-time checks of ApiKey props, so a mistake fails `cdktf synth` with a message that says what
// to fix, not `terraform apply` halfway through. Values that are cdktf tokens are only known to
// Terraform, so they are not checked here (the provider and the server check them).
import { Token } from "cdktf";
import { isValidPrefix } from "../../contract/key-format.js";
import { describeNameProblem } from "../../contract/key-name.js";
import { Access } from "./access.js";
import type { ApiKeyProps } from "./api-key.js";
import type { SecretStore } from "./secret-store.js";

/** Most scopes one key may list (the server's limit). */
export const SCOPES_MAX = 200;
/** Longest grace period: 24 hours. */
export const GRACE_MAX_SECONDS = 86_400;
/** The server's scope rule: lowercase segments separated by ":", such as "orders:read". */
export const SCOPE_NAME = /^[a-z][a-z0-9_.-]{0,62}(:[a-z][a-z0-9_.-]{0,62})*$/;

/** The props ApiKey validates, normalized (name trimmed, defaults applied). */
export interface ValidatedApiKeyProps {
  readonly name: string;
  readonly access: Access;
  readonly scopes: string[] | undefined;
  readonly rotationVersion: number;
  readonly gracePeriodSeconds: number;
  readonly keyPrefix: string | undefined;
}


/** Checks ApiKey props; throws an Error naming the construct and the fix. */
// `access` is typed as a string: JavaScript callers and casts can pass anything.
export function validateApiKeyProps(id: string, props: Omit<ApiKeyProps, "access" | "provider"> & { readonly access: string }): ValidatedApiKeyProps {
  const fail = (problem: string): never => {
    throw new Error(`ApiKey "${id}": ${problem}`);
  };
  const name = Token.isUnresolved(props.name) ? props.name : checkName(props.name, fail);
  const access = checkAccess(props.access, fail);
  const scopes = checkScopes(access, props.scopes, fail);
  const rotationVersion = props.rotationVersion ?? 1;
  if (!Token.isUnresolved(rotationVersion) && !(Number.isSafeInteger(rotationVersion) && rotationVersion >= 1)) {
    fail(`rotationVersion must be a positive integer (1, 2, 3, ...; bump it to rotate the key); got ${rotationVersion}.`);
  }
  const gracePeriodSeconds = props.gracePeriodSeconds ?? 0;
  if (
    !Token.isUnresolved(gracePeriodSeconds) &&
    !(Number.isInteger(gracePeriodSeconds) && gracePeriodSeconds >= 0 && gracePeriodSeconds <= GRACE_MAX_SECONDS)
  ) {
    fail(`gracePeriodSeconds must be a whole number of seconds from 0 to ${GRACE_MAX_SECONDS} (24 hours); got ${gracePeriodSeconds}.`);
  }
  const keyPrefix = props.keyPrefix;
  if (keyPrefix !== undefined && !Token.isUnresolved(keyPrefix) && !isValidPrefix(keyPrefix)) {
    fail(
      `keyPrefix must be 2 to 16 lowercase letters or digits starting with a letter, the same as the server's key prefix ` +
        `(tokens look like "ak_" followed by 50 base62 characters); got ${JSON.stringify(keyPrefix)}.`,
    );
  }
  checkStoreIds(props.secretStores ?? [], fail);
  return { name, access, scopes, rotationVersion, gracePeriodSeconds, keyPrefix };
}

function checkName(raw: string, fail: (problem: string) => never): string {
  if (typeof raw !== "string") fail(`name must be a string, such as "Snowflake production data warehouse export".`);
  const name = raw.trim();
  // The server's rule, with the server's words (contract/key-name.ts).
  const problem = describeNameProblem(name);
  if (problem !== undefined) fail(`name ${problem}.`);
  return name;
}

function checkAccess(access: string, fail: (problem: string) => never): Access {
  if (access !== Access.FULL && access !== Access.CUSTOM) {
    fail(
      `access must be "full" (every scope, including scopes added later) or "custom" (only the listed scopes); ` +
        `got ${JSON.stringify(access)}.`,
    );
  }
  return access as Access;
}

function checkScopes(access: Access, scopes: string[] | undefined, fail: (problem: string) => never): string[] | undefined {
  if (scopes === undefined || Token.isUnresolved(scopes)) {
    if (access === Access.CUSTOM && scopes === undefined) {
      fail(`custom access needs at least one scope in scopes, such as ["orders:read"]; use access "full" for every scope.`);
    }
    return scopes;
  }
  if (access === Access.FULL) {
    if (scopes.length === 0) return undefined;
    fail(`full access grants every scope, so scopes must be left out; use access "custom" to grant only the listed scopes.`);
  }
  if (scopes.length === 0) {
    fail(`custom access needs at least one scope in scopes, such as ["orders:read"]; use access "full" for every scope.`);
  }
  if (scopes.length > SCOPES_MAX) fail(`scopes must list at most ${SCOPES_MAX} scopes; got ${scopes.length}.`);
  const seen = new Set<string>();
  for (const scope of scopes) {
    if (Token.isUnresolved(scope)) continue;
    if (!SCOPE_NAME.test(scope)) {
      fail(
        `scope ${JSON.stringify(scope)} is not a valid scope name: use lowercase segments separated by ":", each ` +
          `starting with a letter and holding only a-z, 0-9, "_", "." or "-" (at most 63 characters), such as "orders:read".`,
      );
    }
    if (seen.has(scope)) fail(`scope ${JSON.stringify(scope)} is listed more than once in scopes; list each scope once.`);
    seen.add(scope);
  }
  return scopes;
}

function checkStoreIds(stores: readonly SecretStore[], fail: (problem: string) => never): void {
  const seen = new Set<string>();
  for (const store of stores) {
    if (seen.has(store.id)) {
      fail(
        `two secret stores use the id ${JSON.stringify(store.id)}; give each store of the same kind its own id ` +
          `(the id names the store's resources).`,
      );
    }
    seen.add(store.id);
  }
}

/**
 * Throws unless `value` is a non-empty string (or a token); used by the stores' constructors.
 * `reference` names a token to pass instead, for values usually taken from another resource.
 */
export function requireText(owner: string, field: string, value: string | undefined, example: string, reference?: string): string {
  if (typeof value !== "string" || (!Token.isUnresolved(value) && value.trim() === "")) {
    const or = reference === undefined ? "" : ` or a reference such as ${reference}`;
    throw new Error(`${owner}: ${field} must be a non-empty string, such as ${JSON.stringify(example)}${or}.`);
  }
  return value;
}

/** Throws unless `value` is usable as a key in a secret's data (Kubernetes' rule, also safe in JSON). */
export function requireDataKey(owner: string, value: string): string {
  if (!Token.isUnresolved(value) && !/^[-._a-zA-Z0-9]{1,253}$/.test(value)) {
    throw new Error(
      `${owner}: key must be 1 to 253 letters, digits, "-", "_" or "." (a Kubernetes data key); got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}
