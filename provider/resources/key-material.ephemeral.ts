// apikeys_key_material: a token minted on this machine in the server's key format, for
// apikeys_api_key's write-only `secret_wo` and the secret stores' write-only arguments. As an
// ephemeral resource its values exist only while Terraform runs: never in plan or state files.
import { isValidPrefix, mintToken, parseToken, tokenHint } from "../../contract/key-format.js";
import type { ApikeysClient } from "../api-client.js";
import { DiagnosticsError, error } from "../protocol/diagnostics.js";
import type { EphemeralResource } from "../protocol/resource.js";

// The server's default APIKEYS_KEY_PREFIX, for a server too old to tell its own.
const DEFAULT_PREFIX = "ak";

export const keyMaterialEphemeral: EphemeralResource<ApikeysClient> = {
  typeName: "apikeys_key_material",
  schema: {
    description: "Mints a new API key token locally, in the server's key format. Each Terraform run mints a fresh one; only the run that creates a key stores its hash.",
    attributes: {
      prefix: { type: "string", optional: true, description: "The server's key prefix (APIKEYS_KEY_PREFIX); a different one fails at plan time. Default: the server's." },
      token: { type: "string", computed: true, sensitive: true, description: "The whole token: give it to `secret_wo` and to your secret stores' write-only arguments." },
      key_id: { type: "string", computed: true, description: "The id part of the token: the id the key will have." },
      hint: { type: "string", computed: true, description: "Prefix, id and last 4 characters, safe to show." },
    },
  },

  validate(config) {
    const { prefix } = config;
    if (typeof prefix === "string" && !isValidPrefix(prefix)) {
      return [error("Invalid key prefix", `\`prefix\` must be 2 to 16 lowercase letters and digits starting with a letter, and equal to the server's APIKEYS_KEY_PREFIX; got ${JSON.stringify(prefix)}.`, "prefix")];
    }
    return [];
  },

  async open(config, client) {
    // Empty from a server too old to tell; the server then checks the prefix only at creation.
    const served = client?.keyPrefix || undefined;
    const prefix = typeof config.prefix === "string" ? config.prefix : (served ?? DEFAULT_PREFIX);
    // The server would refuse this material only when the key is created, halfway through an apply.
    if (served !== undefined && prefix !== served) {
      throw new DiagnosticsError([
        error(
          "Key prefix differs from the server's",
          `The apikeys server makes keys with the prefix "${served}" (its APIKEYS_KEY_PREFIX), so it would refuse key material starting "${prefix}_". Set \`prefix = "${served}"\` in apikeys_key_material, or leave \`prefix\` out to use the server's.`,
          "prefix",
        ),
      ]);
    }
    const token = mintToken(prefix);
    return { prefix: config.prefix ?? null, token, key_id: parseToken(token, prefix)!.id, hint: tokenHint(token, prefix) };
  },
};
