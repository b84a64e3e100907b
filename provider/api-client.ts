// The provider's connection to an apikeys server: a Connect client on the server's HTTP port,
// built once per provider instance from the configuration (or the environment), and checked with
// one cheap call so that a wrong endpoint or token is reported at plan time, not halfway through
// an apply.
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ApiKeyService } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { apiDiagnostic } from "./api-errors.js";
import { DiagnosticsError, error } from "./protocol/diagnostics.js";

/** What resources use to reach the server. */
export interface ApikeysClient {
  readonly api: Client<typeof ApiKeyService>;
  /** The scope catalog's names, fetched once per provider process (one plan or apply). */
  scopeNames(): Promise<readonly string[]>;
}

export interface ClientSettings {
  readonly endpoint: string;
  readonly token: string;
  readonly caCertificate?: string;
}

/** Environment variables that stand in for unset provider arguments. */
export const ENDPOINT_VARIABLE = "APIKEYS_ENDPOINT";
export const TOKEN_VARIABLE = "APIKEYS_TOKEN";

/** Checks the settings, connects and proves the token can manage keys; throws DiagnosticsError. */
export async function connect(settings: ClientSettings): Promise<ApikeysClient> {
  const base = checkEndpoint(settings.endpoint);
  if (!settings.token) {
    throw new DiagnosticsError([
      error(
        "Missing apikeys token",
        `Set the provider's \`token\` argument or the ${TOKEN_VARIABLE} environment variable to the token of a workspace owner or admin (\`apikeys members add\` or \`apikeys bootstrap\` prints one).`,
        "token",
      ),
    ]);
  }
  const auth: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${settings.token}`);
    return next(req);
  };
  const transport = createConnectTransport({
    baseUrl: base,
    httpVersion: "1.1",
    interceptors: [auth],
    // A private CA for the server's TLS certificate; Node's default trust store otherwise.
    ...(settings.caCertificate ? { nodeOptions: { ca: settings.caCertificate } } : {}),
  });
  const api = createClient(ApiKeyService, transport);
  // The cheapest call that needs a key manager: a wrong endpoint, token or role fails here.
  await api.listApiKeys({ pageSize: 1 }).catch((e: unknown) => {
    throw new DiagnosticsError([apiDiagnostic(e, `list keys on the apikeys server at ${base}, the provider's check of its settings`)]);
  });
  let catalog: Promise<readonly string[]> | undefined;
  return {
    api,
    scopeNames: () =>
      (catalog ??= api.listScopes({}).then(
        (r) => r.scopes.map((s) => s.name),
        (e: unknown) => {
          catalog = undefined;
          throw new DiagnosticsError([apiDiagnostic(e, "read the scope catalog")]);
        },
      )),
  };
}

function checkEndpoint(endpoint: string): string {
  const fix = `Set the provider's \`endpoint\` argument or the ${ENDPOINT_VARIABLE} environment variable to the server's HTTP port, such as http://127.0.0.1:8080.`;
  if (!endpoint) throw new DiagnosticsError([error("Missing apikeys endpoint", fix, "endpoint")]);
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new DiagnosticsError([error("Invalid apikeys endpoint", `"${endpoint}" is not a URL. ${fix}`, "endpoint")]);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new DiagnosticsError([error("Invalid apikeys endpoint", `"${endpoint}" must start with http:// or https://. ${fix}`, "endpoint")]);
  }
  return endpoint.replace(/\/+$/, "");
}
