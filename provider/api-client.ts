// The provider's connection to an apikeys server: a Connect client on the server's HTTP port,
// built once per provider instance from the configuration (or the environment), and checked with
// one cheap call so that a wrong endpoint or token is reported at plan time, not halfway through
// an apply.
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ApiKeyService } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { apiDiagnostic } from "./api-errors.js";
import { ENDPOINT_FIX, ENDPOINT_VARIABLE, endpointDiagnostic } from "./endpoint-diagnostic.js";
import { DiagnosticsError, error, type Diagnostic } from "./protocol/diagnostics.js";

/** What resources use to reach the server. */
export interface ApikeysClient {
  readonly api: Client<typeof ApiKeyService>;
  /** The server's key prefix (APIKEYS_KEY_PREFIX); empty from a server too old to tell. */
  readonly keyPrefix: string;
  /** The scope catalog's names, fetched once per provider process (one plan or apply). */
  scopeNames(): Promise<readonly string[]>;
}

export interface ClientSettings {
  readonly endpoint: string;
  readonly token: string;
  readonly caCertificate?: string;
}

/** Environment variables that stand in for unset provider arguments. */
export { ENDPOINT_VARIABLE };
export const TOKEN_VARIABLE = "APIKEYS_TOKEN";

// A call that hangs must not hang Terraform: it fails after this long.
const CALL_TIMEOUT_MS = 30_000;

/**
 * Checks the settings, connects and proves the token can manage keys; throws DiagnosticsError.
 * `stopped` aborts every call in flight and after (Terraform's StopProvider).
 */
export async function connect(settings: ClientSettings, stopped: AbortSignal): Promise<{ client: ApikeysClient; warnings: Diagnostic[] }> {
  const { url, base, warnings } = checkEndpoint(settings.endpoint);
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
    return next({ ...req, signal: AbortSignal.any([req.signal, stopped]) });
  };
  const transport = createConnectTransport({
    baseUrl: base,
    httpVersion: "1.1",
    interceptors: [auth],
    defaultTimeoutMs: CALL_TIMEOUT_MS,
    // A private CA for the server's TLS certificate; Node's default trust store otherwise.
    ...(settings.caCertificate ? { nodeOptions: { ca: settings.caCertificate } } : {}),
  });
  const api = createClient(ApiKeyService, transport);
  // The cheapest call that needs a key manager: a wrong endpoint, token or role fails here.
  const { keyPrefix } = await api.listApiKeys({ pageSize: 1 }).catch((e: unknown) => {
    throw new DiagnosticsError([endpointDiagnostic(e, url) ?? apiDiagnostic(e, `list keys on the apikeys server at ${base}, the provider's check of its settings`)]);
  });
  let catalog: Promise<readonly string[]> | undefined;
  const client: ApikeysClient = {
    api,
    keyPrefix,
    scopeNames: () =>
      (catalog ??= api.listScopes({}).then(
        (r) => r.scopes.map((s) => s.name),
        (e: unknown) => {
          catalog = undefined;
          throw new DiagnosticsError([apiDiagnostic(e, "read the scope catalog")]);
        },
      )),
  };
  return { client, warnings };
}

function checkEndpoint(endpoint: string): { url: URL; base: string; warnings: Diagnostic[] } {
  if (!endpoint) throw new DiagnosticsError([error("Missing apikeys endpoint", ENDPOINT_FIX, "endpoint")]);
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new DiagnosticsError([error("Invalid apikeys endpoint", `"${endpoint}" is not a URL. ${ENDPOINT_FIX}`, "endpoint")]);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new DiagnosticsError([error("Invalid apikeys endpoint", `"${endpoint}" must start with http:// or https://. ${ENDPOINT_FIX}`, "endpoint")]);
  }
  // Never echo credentials in diagnostics; they belong in `token` anyway.
  if (url.username || url.password) {
    throw new DiagnosticsError([error("Invalid apikeys endpoint", "The endpoint must not contain a user name or password; give the credential in `token` (or APIKEYS_TOKEN).", "endpoint")]);
  }
  const warnings: Diagnostic[] = [];
  if (url.protocol === "http:" && !["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) {
    warnings.push({
      severity: "warning",
      summary: "The apikeys token travels unencrypted",
      detail: `${url.origin} is plain HTTP on another machine: anyone on the network path can read the token. Use https:// (APIKEYS_TLS_CERT and APIKEYS_TLS_KEY on the server).`,
      attribute: "endpoint",
    });
  }
  return { url, base: endpoint.replace(/\/+$/, ""), warnings };
}
