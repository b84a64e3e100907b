// apikeys_key_material: a token minted on this machine in the server's key format, for
// apikeys_api_key's write-only `secret_wo` and the secret stores' write-only arguments. As an
// ephemeral resource its values exist only while Terraform runs: never in plan or state files.
import { isValidPrefix, mintToken, parseToken, tokenHint } from "../../contract/key-format.js";
import { error } from "../protocol/diagnostics.js";
import type { EphemeralResource } from "../protocol/resource.js";

const DEFAULT_PREFIX = "ak";

export const keyMaterialEphemeral: EphemeralResource<unknown> = {
  typeName: "apikeys_key_material",
  schema: {
    description: "Mints a new API key token locally, in the server's key format. Each Terraform run mints a fresh one; only the run that creates a key stores its hash.",
    attributes: {
      prefix: { type: "string", optional: true, description: `The server's key prefix (APIKEYS_KEY_PREFIX). Default "${DEFAULT_PREFIX}".` },
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

  async open(config) {
    const prefix = typeof config.prefix === "string" ? config.prefix : DEFAULT_PREFIX;
    const token = mintToken(prefix);
    return { prefix: config.prefix ?? null, token, key_id: parseToken(token, prefix)!.id, hint: tokenHint(token, prefix) };
  },
};
