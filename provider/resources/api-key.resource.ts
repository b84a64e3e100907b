// apikeys_api_key: one API key. Name, access and scopes update in place. The secret comes either
// from client-minted key material through the write-only `secret_wo` (never in plan or state), or,
// in classic mode, from the server into the sensitive `secret` attribute (kept in state).
// Changing `secret_wo_version` replaces the key; with create_before_destroy the new key exists and
// the secret stores hold its secret before the old key is deleted, and `grace_period_seconds`
// keeps the old key verifying a while longer.
import { timestampDate, timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { AccessLevel, type ApiKey } from "../../contract/gen/apikeys/v1/api_key_pb.js";
import { describeNameProblem } from "../../contract/key-name.js";
import type { ApikeysClient } from "../api-client.js";
import { apiDiagnostic, call, isNotFound } from "../api-errors.js";
import { DiagnosticsError, error, type Diagnostic } from "../protocol/diagnostics.js";
import type { Applied, ManagedResource, Private } from "../protocol/resource.js";
import { UNKNOWN, containsUnknown, type TfObject, type TfValue } from "../protocol/schema.js";

const MAX_GRACE_SECONDS = 86_400;

export const apiKeyResource: ManagedResource<ApikeysClient> = {
  typeName: "apikeys_api_key",
  schema: {
    description: "An API key of the token's workspace. Its secret goes to your secret stores, never into state when `secret_wo` is used.",
    attributes: {
      id: { type: "string", computed: true, description: "Public key id: the 12 characters after the prefix in the key." },
      name: { type: "string", required: true, description: "Name, 1 to 100 characters; convention: tool + environment + purpose, such as \"Snowflake production export\"." },
      access: { type: "string", required: true, description: "\"full\": every scope, including scopes added later. \"custom\": only `scopes`." },
      scopes: { type: { set: "string" }, optional: true, description: "Scopes of a \"custom\" key, from the server's catalog (data source apikeys_scopes). Not allowed for \"full\"." },
      secret_wo: {
        type: "string",
        optional: true,
        sensitive: true,
        writeOnly: true,
        description: "Key material minted by the ephemeral resource apikeys_key_material. Write-only: never stored in plan or state. Read only when the key is created.",
      },
      secret_wo_version: {
        type: "number",
        optional: true,
        description: "Any change replaces the key with a new one using the current `secret_wo` (or a new server-minted secret in classic mode). Bump it to rotate.",
      },
      grace_period_seconds: {
        type: "number",
        optional: true,
        description: "When Terraform deletes this key (on destroy, or when a version bump replaces it), the key keeps verifying this many seconds, 0 to 86400. Default 0.",
      },
      secret: {
        type: "string",
        computed: true,
        sensitive: true,
        description: "Classic mode only (no `secret_wo`): the server-minted secret, stored in state. Prefer `secret_wo`, which keeps the secret out of state.",
      },
      hint: { type: "string", computed: true, description: "Prefix, id and last 4 characters: identifies the key without revealing it." },
      secret_version: {
        type: "number",
        computed: true,
        description: "Changes whenever the key gets a new secret: on creation, on re-creation after it was deleted outside Terraform, and on replacement by a version bump. Give it to secret stores as their `*_wo_version`, so they are rewritten exactly then.",
      },
      created_at: { type: "string", computed: true, description: "Creation time, RFC 3339." },
      updated_at: { type: "string", computed: true, description: "Time of the last change to name, access or scopes, RFC 3339." },
    },
  },
  replaceOn: ["secret_wo_version"],

  validate(config) {
    const problems: Diagnostic[] = [];
    const { name, access, scopes, secret_wo_version: version, grace_period_seconds: grace } = config;
    if (typeof name === "string") {
      // The server trims names; a name that changed on the way would make Terraform report an
      // inconsistent result, so spaces at the ends are refused here instead.
      const problem = name.trim() !== name ? "must not start or end with spaces" : describeNameProblem(name);
      if (problem) problems.push(error("Invalid key name", `\`name\` ${problem}.`, "name"));
    }
    if (typeof access === "string" && access !== "full" && access !== "custom") {
      problems.push(error("Invalid access", `\`access\` must be "full" (every scope, including later ones) or "custom" (only \`scopes\`), got ${JSON.stringify(access)}.`, "access"));
    }
    if (access === "full" && scopes !== null && scopes !== UNKNOWN) {
      problems.push(error("Scopes on a full-access key", "Remove `scopes`: a \"full\" key passes every scope. Use access = \"custom\" to choose scopes.", "scopes"));
    }
    if (access === "custom" && (scopes === null || (Array.isArray(scopes) && scopes.length === 0))) {
      problems.push(error("Missing scopes", "A \"custom\" key needs at least one scope in `scopes`; the data source apikeys_scopes lists them.", "scopes"));
    }
    if (typeof version === "number" && !(Number.isInteger(version) && version >= 0)) {
      problems.push(error("Invalid secret version", "`secret_wo_version` must be a whole number of 0 or more; bump it by one to rotate.", "secret_wo_version"));
    }
    if (typeof grace === "number" && !(Number.isInteger(grace) && grace >= 0 && grace <= MAX_GRACE_SECONDS)) {
      problems.push(error("Invalid grace period", `\`grace_period_seconds\` must be a whole number from 0 to ${MAX_GRACE_SECONDS} (24 hours).`, "grace_period_seconds"));
    }
    return problems;
  },

  async modifyPlan(draft, client) {
    const { config, prior } = draft;
    const planned: Record<string, TfValue> = { ...draft.planned };
    if (Array.isArray(config.scopes)) await checkScopesExist(config.scopes, client);
    if (prior === null) {
      // Classic mode: the server mints the secret, so it is known only after apply. An unknown
      // `secret_wo` may still turn out null, and then the server mints it too.
      planned.secret = config.secret_wo === null || config.secret_wo === UNKNOWN ? UNKNOWN : null;
      return { planned, requiresReplace: [] };
    }
    if (changedFields(prior, planned).length > 0) planned.updated_at = UNKNOWN;
    const mode = draft.private.mode;
    if (adopting(draft.private, config)) {
      // The new key's values are known only after apply. Not a replacement: Terraform would delete
      // the imported key with the grace in its state, which import could not know.
      for (const a of ["id", "hint", "secret_version", "created_at", "updated_at"]) planned[a] = UNKNOWN;
      const warning: Diagnostic = {
        severity: "warning",
        summary: `Key ${str(prior.id)} was imported, so this apply replaces it`,
        detail: `Terraform never knew the imported key's secret, so no secret store could get it from \`secret_wo\`. This apply creates a new key with that secret and deletes key ${str(prior.id)}, which keeps verifying for the configured \`grace_period_seconds\` while the stores that depend on the key get the new secret. To keep the imported key instead, remove \`secret_wo\`.`,
        attribute: "secret_wo",
      };
      return { planned, requiresReplace: draft.requiresReplace.filter((a) => a !== "secret_wo_version"), warnings: [warning] };
    }
    // Switching between classic mode and `secret_wo` needs a new secret, so a new key: kept, the
    // classic secret would stay in state, or a key would be left without any known secret.
    const switching = (mode === "classic" && config.secret_wo !== null) || (mode === "write-only" && config.secret_wo === null);
    return { planned, requiresReplace: switching ? [...draft.requiresReplace, "secret_wo"] : draft.requiresReplace };
  },

  async create({ planned, config }, client) {
    return createKey(planned, config, client);
  },

  async read(state, _priv, client) {
    try {
      const { apiKey } = await client.api.getApiKey({ id: str(state.id) });
      return toState(apiKey!, state, state.secret);
    } catch (e) {
      // Deleted outside Terraform: leave state, so the next plan creates it again.
      if (isNotFound(e)) return null;
      throw new DiagnosticsError([apiDiagnostic(e, "read the key")]);
    }
  },

  async update({ prior, planned, config, private: priv }, client) {
    if (adopting(priv, config)) {
      // New key first: should the delete fail, the imported key still works and the state
      // holds the new one, so nothing is lost and the next plan is clean.
      const created = await createKey(planned, config, client);
      const old = str(prior.id);
      try {
        await client.api.deleteApiKey({ id: old, gracePeriod: { seconds: BigInt(graceOf(planned)) } });
        return created;
      } catch (e) {
        if (isNotFound(e)) return created;
        const problem = apiDiagnostic(e, `delete the imported key ${old}`);
        return { ...created, diagnostics: [{ ...problem, detail: `${problem.detail} The new key ${str(created.state.id)} is in the state; delete key ${old} yourself (DeleteApiKey) once its users have the new secret.` }] };
      }
    }
    const paths = changedFields(prior, planned);
    if (paths.length === 0) return { state: { ...planned, updated_at: prior.updated_at ?? null } };
    const { apiKey } = await call("update the key", () =>
      client.api.updateApiKey({
        apiKey: { id: str(prior.id), name: str(planned.name), access: accessToProto(str(planned.access)), scopes: strings(planned.scopes) },
        updateMask: { paths },
      }),
    );
    return { state: toState(apiKey!, planned, prior.secret) };
  },

  async delete(prior, client) {
    try {
      await client.api.deleteApiKey({ id: str(prior.id), gracePeriod: { seconds: BigInt(graceOf(prior)) } });
    } catch (e) {
      if (!isNotFound(e)) throw new DiagnosticsError([apiDiagnostic(e, "delete the key")]);
    }
  },

  async importState(id, client) {
    // Terraform never knew this key's secret: with `secret_wo` configured, the first apply
    // replaces the key (see `adopting`), so every store gets a secret that works.
    const { apiKey } = await call(`import the key "${id}"`, () => client.api.getApiKey({ id }));
    const mode: SecretMode = "imported";
    return { state: toState(apiKey!, { secret_wo_version: null, grace_period_seconds: null }, null), private: { mode } };
  },
};

/**
 * How the key got its secret, kept in private state: from the server (classic), from `secret_wo`,
 * or unknown to Terraform (imported).
 */
type SecretMode = "classic" | "write-only" | "imported";

/**
 * True when an imported key meets `secret_wo`: the apply makes a new key with that secret and
 * deletes the imported one with the configured grace, in one update, so that the stores get a
 * secret that works. (Keys imported before the mode was recorded have none and stay as they are.)
 */
function adopting(priv: Private, config: TfObject): boolean {
  return priv.mode === "imported" && config.secret_wo !== null;
}

/** A new key from the plan, with the key material in `secret_wo` or a server-minted secret. */
async function createKey(planned: TfObject, config: TfObject, client: ApikeysClient): Promise<Applied> {
  const material = config.secret_wo;
  const { apiKey, secret } = await call("create the key", () =>
    client.api.createApiKey({
      name: str(planned.name),
      access: accessToProto(str(planned.access)),
      scopes: strings(planned.scopes),
      keyMaterial: typeof material === "string" ? material : "",
    }),
  );
  const mode: SecretMode = secret === "" ? "write-only" : "classic";
  return { state: toState(apiKey!, planned, secret === "" ? null : secret), private: { mode } };
}

/** Seconds a deleted key keeps verifying: `grace_period_seconds`, 0 when unset. */
function graceOf(values: TfObject): number {
  return typeof values.grace_period_seconds === "number" ? values.grace_period_seconds : 0;
}

/** The fields the server must change; scopes compare as a set, and anything unknown has changed. */
function changedFields(prior: TfObject, planned: TfObject): string[] {
  const canonical = (v: TfValue | undefined) => (Array.isArray(v) ? JSON.stringify(v.map(String).sort()) : JSON.stringify(v));
  return ["name", "access", "scopes"].filter((a) => containsUnknown(planned[a] ?? null) || canonical(prior[a]) !== canonical(planned[a]));
}

/** The server's key as state; Terraform-only arguments come from `kept` (the plan or prior state). */
function toState(key: ApiKey, kept: TfObject, secret: TfValue | undefined): TfObject {
  const full = key.access === AccessLevel.FULL;
  return {
    id: key.id,
    name: key.name,
    access: full ? "full" : "custom",
    // A full key has no scopes of its own; null keeps the plan stable against `scopes` left out.
    scopes: full ? null : [...key.scopes],
    secret_wo: null,
    secret_wo_version: kept.secret_wo_version ?? null,
    grace_period_seconds: kept.grace_period_seconds ?? null,
    secret: secret ?? null,
    hint: key.hint,
    // The creation time in milliseconds: every new key, hence every new secret, has a new one.
    secret_version: key.createTime ? Number(timestampMs(key.createTime)) : null,
    created_at: rfc3339(key.createTime),
    updated_at: rfc3339(key.updateTime),
  };
}

async function checkScopesExist(scopes: readonly TfValue[], client: ApikeysClient): Promise<void> {
  const catalog = await client.scopeNames();
  const known = new Set(catalog);
  const unknown = scopes.filter((s): s is string => typeof s === "string" && !known.has(s));
  if (unknown.length === 0) return;
  throw new DiagnosticsError([
    error(
      `Unknown scope${unknown.length > 1 ? "s" : ""} ${unknown.map((s) => JSON.stringify(s)).join(", ")}`,
      `Use scopes from the server's catalog: ${catalog.join(", ") || "(empty; add scopes with `apikeys scopes add`)"}.`,
      "scopes",
    ),
  ]);
}

function accessToProto(access: string): AccessLevel {
  return access === "full" ? AccessLevel.FULL : AccessLevel.CUSTOM;
}

function rfc3339(time: Timestamp | undefined): string | null {
  return time ? timestampDate(time).toISOString() : null;
}

function str(value: TfValue | undefined): string {
  if (typeof value !== "string") throw new Error(`expected a known string, got ${String(value)}`);
  return value;
}

function strings(value: TfValue | undefined): string[] {
  return Array.isArray(value) ? value.map(str) : [];
}
