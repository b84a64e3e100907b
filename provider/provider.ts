// The apikeys provider: its configuration and the types it offers. A new resource type is one
// file under resources/ and one line here.
import { connect, ENDPOINT_VARIABLE, TOKEN_VARIABLE, type ApikeysClient } from "./api-client.js";
import type { ProviderDefinition } from "./protocol/resource.js";
import { containsUnknown } from "./protocol/schema.js";
import { DiagnosticsError, error } from "./protocol/diagnostics.js";
import { apiKeyResource } from "./resources/api-key.resource.js";
import { keyMaterialEphemeral } from "./resources/key-material.ephemeral.js";
import { scopesDataSource } from "./resources/scopes.data-source.js";

// One provider process serves one Terraform command; StopProvider ends all of its calls.
const stopping = new AbortController();

export const apikeysProvider: ProviderDefinition<ApikeysClient> = {
  schema: {
    description: "Manages API keys on an apikeys server.",
    attributes: {
      endpoint: { type: "string", optional: true, description: `The server's HTTP port URL, such as http://127.0.0.1:8080. Default: the ${ENDPOINT_VARIABLE} environment variable.` },
      token: { type: "string", optional: true, sensitive: true, description: `Token of a workspace owner or admin. Default: the ${TOKEN_VARIABLE} environment variable.` },
      ca_certificate: { type: "string", optional: true, description: "PEM certificate of the CA that signed the server's TLS certificate, when it is not publicly trusted." },
    },
  },

  async configure(config) {
    if (containsUnknown(config)) {
      throw new DiagnosticsError([
        error("Provider configuration depends on values known only after apply", "Give `endpoint`, `token` and `ca_certificate` values known at plan time, such as variables or environment variables."),
      ]);
    }
    const text = (v: unknown) => (typeof v === "string" ? v : undefined);
    const settings = {
      endpoint: text(config.endpoint) ?? process.env[ENDPOINT_VARIABLE] ?? "",
      token: text(config.token) ?? process.env[TOKEN_VARIABLE] ?? "",
      ...(text(config.ca_certificate) ? { caCertificate: text(config.ca_certificate) } : {}),
    };
    return connect(settings, stopping.signal);
  },

  stop: () => stopping.abort(),

  resources: [apiKeyResource],
  dataSources: [scopesDataSource],
  ephemeralResources: [keyMaterialEphemeral],
};
