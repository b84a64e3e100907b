// Configuration, read once from the environment, validated, frozen and passed down explicitly.
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { isValidPrefix } from "../contract/key-format.js";
import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS } from "./listener-options.js";
import type { LogLevel } from "./logger.js";

export interface Argon2Params {
  /** Memory in KiB. */
  readonly memoryCost: number;
  readonly timeCost: number;
  readonly parallelism: number;
}

export interface Config {
  readonly host: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** Prometheus metrics on a listener of their own (GET /metrics); undefined: no metrics at all. */
  readonly metricsPort: number | undefined;
  /** Unset: start an embedded Postgres in `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly keyPrefix: string;
  /** argon2id cost for API keys and principal tokens (high-entropy secrets). */
  readonly argon2: Argon2Params;
  /** argon2id cost for legacy account keys, whose entropy is unknown. */
  readonly legacyArgon2: Argon2Params;
  readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined;
  readonly maxMessageBytes: number;
  readonly logLevel: LogLevel;
  /** Catalog seed; scopes in it are added at start (never removed). Empty string: no seeding. */
  readonly scopesFile: string | undefined;
  readonly migrateOnStart: boolean;
  /** How often buffered last-used times are written, in milliseconds. */
  readonly lastUsedFlushMs: number;
  /** How often the in-memory list of legacy key hints is reloaded, in milliseconds. */
  readonly legacyRefreshMs: number;
  /** How long a verified key or principal token stays in memory unused, in milliseconds. */
  readonly cacheTtlMs: number;
  /** How long a verified key or principal token is served from memory at most, used or not. */
  readonly cacheMaxAgeMs: number;
  /** Most entries of each in-memory cache (keys, principals, kept gRPC answers). */
  readonly cacheMaxEntries: number;
  /** argon2 checks running at once on a cache miss, and waiting before RESOURCE_EXHAUSTED. */
  readonly argon2MaxConcurrent: number;
  readonly argon2MaxQueued: number;
  /** argon2 checks waiting for one key id (guesses, under a flood) before RESOURCE_EXHAUSTED. */
  readonly argon2MaxQueuedPerKey: number;
  /** An HTTP/2 connection (either port) with no call in progress this long is closed, in milliseconds. */
  readonly idleTimeoutMs: number;
  /** How long a request's headers and body may take to arrive on the HTTP port, in milliseconds. */
  readonly requestTimeoutMs: number;
  /** How long a browser session lasts from sign-in, in milliseconds. */
  readonly sessionTtlMs: number;
  /** OpenID Connect sign-in; undefined when APIKEYS_OIDC_ISSUER is unset. */
  readonly oidc: OidcConfig | undefined;
}

/** OpenID Connect sign-in: the provider, this server as its client, and how claims map to principals. */
export interface OidcConfig {
  readonly issuer: URL;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Where browsers reach this server; the redirect URI is `<publicUrl>/auth/oidc/callback`. */
  readonly publicUrl: URL;
  readonly redirectUri: URL;
  /** Label for the sign-in button. */
  readonly displayName: string;
  /** Scopes asked for, `openid` among them. */
  readonly scopes: readonly string[];
  /** Where the workspace comes from: one fixed workspace, or a claim naming its id. */
  readonly workspace: { readonly fixed: string } | { readonly claim: string };
  /** The claim holding the person's groups or roles (a string or an array of strings). */
  readonly roleClaim: string;
  /** Which claim values mean each role; the highest matching role wins. */
  readonly roleValues: {
    readonly owner: ReadonlySet<string>;
    readonly admin: ReadonlySet<string>;
    readonly member: ReadonlySet<string>;
    /** Values that make the person support staff (no workspace); empty when none do. */
    readonly support: ReadonlySet<string>;
  };
}

/** Principal tokens use their own prefix so they can never be mistaken for API keys. */
export const PRINCIPAL_TOKEN_PREFIX = "akp";

/** Browser sessions (the cookie's value) have theirs: a session is never taken for a bearer token, nor a token for a cookie. */
export const SESSION_TOKEN_PREFIX = "aks";

/** OWASP's minimum for argon2id (19 MiB, 2 iterations, 1 lane): for legacy keys, which may be guessable. */
export const OWASP_ARGON2: Argon2Params = Object.freeze({ memoryCost: 19456, timeCost: 2, parallelism: 1 });

/**
 * argon2id for API keys and principal tokens: 8 KiB, 1 iteration, 1 lane, the least argon2 allows
 * (8 KiB per lane), about 0.1 ms of CPU where OWASP's password cost takes about 30. Each carries
 * about 190 bits from a CSPRNG, so guessing one is hopeless at any cost: a slow, memory-hard KDF
 * only protects guessable secrets, and NIST SP 800-63B asks for a cost factor only below 112 bits
 * (look-up secrets, 5.1.2.2); above that, a one-way hash suffices. What the cost does
 * decide is how fast a restarted replica checks its active keys again. argon2id is kept so that
 * every stored secret has one format and one check.
 */
export const HIGH_ENTROPY_ARGON2: Argon2Params = Object.freeze({ memoryCost: 8, timeCost: 1, parallelism: 1 });

/**
 * Most entries of each in-memory cache. A service's active keys must all fit, or the least recently
 * used are checked with argon2 again in steady state. Each verified key costs about 1 KB of V8 heap
 * and 2 KB resident (its cache entry, its remembered secret and its kept answer; bench scenario 9),
 * so the default holds 500,000 keys in about 0.5 GB of heap when full; memory grows only with the
 * keys in use.
 */
export const DEFAULT_CACHE_MAX_ENTRIES = 500_000;

/** One row per variable: the README's configuration table is checked against this list. */
export const CONFIG_VARIABLES = [
  "APIKEYS_HOST",
  "APIKEYS_GRPC_PORT",
  "APIKEYS_HTTP_PORT",
  "APIKEYS_METRICS_PORT",
  "DATABASE_URL",
  "APIKEYS_DATA_DIR",
  "APIKEYS_KEY_PREFIX",
  "APIKEYS_ARGON2_MEMORY_KIB",
  "APIKEYS_ARGON2_ITERATIONS",
  "APIKEYS_ARGON2_PARALLELISM",
  "APIKEYS_LEGACY_ARGON2_MEMORY_KIB",
  "APIKEYS_LEGACY_ARGON2_ITERATIONS",
  "APIKEYS_LEGACY_ARGON2_PARALLELISM",
  "APIKEYS_TLS_CERT",
  "APIKEYS_TLS_KEY",
  "APIKEYS_MAX_MESSAGE_BYTES",
  "APIKEYS_LOG_LEVEL",
  "APIKEYS_SCOPES_FILE",
  "APIKEYS_MIGRATE_ON_START",
  "APIKEYS_LAST_USED_FLUSH_MS",
  "APIKEYS_LEGACY_REFRESH_MS",
  "APIKEYS_CACHE_TTL_MS",
  "APIKEYS_CACHE_MAX_AGE_MS",
  "APIKEYS_CACHE_MAX_ENTRIES",
  "APIKEYS_ARGON2_MAX_CONCURRENT",
  "APIKEYS_ARGON2_MAX_QUEUED",
  "APIKEYS_ARGON2_MAX_QUEUED_PER_KEY",
  "APIKEYS_IDLE_TIMEOUT_MS",
  "APIKEYS_REQUEST_TIMEOUT_MS",
  "APIKEYS_SESSION_TTL_MS",
  "APIKEYS_PUBLIC_URL",
  "APIKEYS_OIDC_ISSUER",
  "APIKEYS_OIDC_CLIENT_ID",
  "APIKEYS_OIDC_CLIENT_SECRET",
  "APIKEYS_OIDC_DISPLAY_NAME",
  "APIKEYS_OIDC_SCOPES",
  "APIKEYS_OIDC_WORKSPACE_ID",
  "APIKEYS_OIDC_WORKSPACE_CLAIM",
  "APIKEYS_OIDC_ROLE_CLAIM",
  "APIKEYS_OIDC_OWNER_VALUES",
  "APIKEYS_OIDC_ADMIN_VALUES",
  "APIKEYS_OIDC_MEMBER_VALUES",
  "APIKEYS_OIDC_SUPPORT_VALUES",
] as const;

/** The example catalog shipped in config/scopes.json. */
export const DEFAULT_SCOPES_FILE = fileURLToPath(new URL("../config/scopes.json", import.meta.url));

/** A configuration variable is invalid; the message names it and what it must be. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Reads and validates the configuration; throws ConfigError naming the variable to fix. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
    }
    return value;
  };
  // Keys may go down to argon2's own floor (8 KiB per lane); legacy keys, maybe guessable, not below 1 MiB.
  const argon2Params = (prefix: string, fallback: Argon2Params, minMemoryKib: number): Argon2Params => {
    const parallelism = int(`${prefix}_PARALLELISM`, fallback.parallelism, 1, 16);
    const memoryCost = int(`${prefix}_MEMORY_KIB`, fallback.memoryCost, Math.max(minMemoryKib, 8 * parallelism), 4 * 1024 * 1024);
    return Object.freeze({ memoryCost, timeCost: int(`${prefix}_ITERATIONS`, fallback.timeCost, 1, 100), parallelism });
  };
  const keyPrefix = env.APIKEYS_KEY_PREFIX || "ak";
  if (!isValidPrefix(keyPrefix) || keyPrefix === PRINCIPAL_TOKEN_PREFIX || keyPrefix === SESSION_TOKEN_PREFIX) {
    throw new ConfigError(
      `APIKEYS_KEY_PREFIX must be 2-16 lowercase letters or digits starting with a letter, and not "${PRINCIPAL_TOKEN_PREFIX}" or "${SESSION_TOKEN_PREFIX}"; got "${keyPrefix}"`,
    );
  }
  const certFile = env.APIKEYS_TLS_CERT || undefined;
  const keyFile = env.APIKEYS_TLS_KEY || undefined;
  if (Boolean(certFile) !== Boolean(keyFile)) {
    throw new ConfigError("APIKEYS_TLS_CERT and APIKEYS_TLS_KEY must be set together");
  }
  const logLevel = (env.APIKEYS_LOG_LEVEL || "info") as LogLevel;
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new ConfigError(`APIKEYS_LOG_LEVEL must be debug, info, warn or error; got "${logLevel}"`);
  }
  const migrate = env.APIKEYS_MIGRATE_ON_START ?? "true";
  if (migrate !== "true" && migrate !== "false") {
    throw new ConfigError(`APIKEYS_MIGRATE_ON_START must be true or false; got "${migrate}"`);
  }
  return Object.freeze({
    host: env.APIKEYS_HOST || "127.0.0.1",
    grpcPort: int("APIKEYS_GRPC_PORT", 50051, 0, 65535),
    httpPort: int("APIKEYS_HTTP_PORT", 8080, 0, 65535),
    metricsPort: env.APIKEYS_METRICS_PORT ? int("APIKEYS_METRICS_PORT", 0, 0, 65535) : undefined,
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.APIKEYS_DATA_DIR || ".apikeys",
    keyPrefix,
    argon2: argon2Params("APIKEYS_ARGON2", HIGH_ENTROPY_ARGON2, 8),
    legacyArgon2: argon2Params("APIKEYS_LEGACY_ARGON2", OWASP_ARGON2, 1024),
    tls: certFile && keyFile ? Object.freeze({ certFile, keyFile }) : undefined,
    maxMessageBytes: int("APIKEYS_MAX_MESSAGE_BYTES", 64 * 1024, 1024, 64 * 1024 * 1024),
    logLevel,
    scopesFile: env.APIKEYS_SCOPES_FILE === "" ? undefined : env.APIKEYS_SCOPES_FILE ?? DEFAULT_SCOPES_FILE,
    migrateOnStart: migrate === "true",
    lastUsedFlushMs: int("APIKEYS_LAST_USED_FLUSH_MS", 5000, 10, 600_000),
    legacyRefreshMs: int("APIKEYS_LEGACY_REFRESH_MS", 2000, 10, 600_000),
    cacheTtlMs: int("APIKEYS_CACHE_TTL_MS", 600_000, 1000, 86_400_000),
    cacheMaxAgeMs: int("APIKEYS_CACHE_MAX_AGE_MS", 86_400_000, 1000, 7 * 86_400_000),
    cacheMaxEntries: int("APIKEYS_CACHE_MAX_ENTRIES", DEFAULT_CACHE_MAX_ENTRIES, 1, 10_000_000),
    argon2MaxConcurrent: int("APIKEYS_ARGON2_MAX_CONCURRENT", availableParallelism(), 1, 256),
    argon2MaxQueued: int("APIKEYS_ARGON2_MAX_QUEUED", 256, 0, 100_000),
    argon2MaxQueuedPerKey: int("APIKEYS_ARGON2_MAX_QUEUED_PER_KEY", 64, 0, 100_000),
    idleTimeoutMs: int("APIKEYS_IDLE_TIMEOUT_MS", DEFAULT_IDLE_TIMEOUT_MS, 100, 86_400_000),
    requestTimeoutMs: int("APIKEYS_REQUEST_TIMEOUT_MS", DEFAULT_REQUEST_TIMEOUT_MS, 100, 3_600_000),
    // 12 hours: a working day signed in; at most 30 days.
    sessionTtlMs: int("APIKEYS_SESSION_TTL_MS", 12 * 3_600_000, 1000, 30 * 86_400_000),
    oidc: loadOidcConfig(env),
  });
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** An absolute http(s) URL; plain http only on a loopback host (a provider or server on this machine). */
function httpsUrl(env: NodeJS.ProcessEnv, name: string, what: string): URL {
  const raw = env[name] ?? "";
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be the absolute URL of ${what}, such as https://example.com; got "${raw}"`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname))) {
    throw new ConfigError(`${name} must be an https URL (plain http only on 127.0.0.1, localhost or [::1]); got "${raw}"`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new ConfigError(`${name} must have no query, fragment or credentials; got "${raw}"`);
  }
  return url;
}

/** A comma-separated list of claim values; empty entries are dropped. */
function valueList(env: NodeJS.ProcessEnv, name: string): ReadonlySet<string> {
  return new Set((env[name] ?? "").split(",").map((v) => v.trim()).filter((v) => v !== ""));
}

/** Reads the APIKEYS_OIDC_* variables: undefined when APIKEYS_OIDC_ISSUER is unset. */
function loadOidcConfig(env: NodeJS.ProcessEnv): OidcConfig | undefined {
  if (!env.APIKEYS_OIDC_ISSUER) {
    const stray = CONFIG_VARIABLES.filter((name) => name.startsWith("APIKEYS_OIDC_") && env[name]);
    if (stray.length > 0) {
      throw new ConfigError(`${stray.join(", ")} set without APIKEYS_OIDC_ISSUER: set the issuer to turn OpenID Connect sign-in on, or unset them`);
    }
    return undefined;
  }
  const required = (name: string, what: string): string => {
    const value = env[name]?.trim();
    if (!value) throw new ConfigError(`${name} must be set when APIKEYS_OIDC_ISSUER is: ${what}`);
    return value;
  };
  const issuer = httpsUrl(env, "APIKEYS_OIDC_ISSUER", "the OpenID provider (its issuer, as its /.well-known/openid-configuration says)");
  const clientId = required("APIKEYS_OIDC_CLIENT_ID", "the client id this server is registered with at the provider");
  const clientSecret = required("APIKEYS_OIDC_CLIENT_SECRET", "the client secret the provider issued with the client id");
  if (!env.APIKEYS_PUBLIC_URL) {
    throw new ConfigError("APIKEYS_PUBLIC_URL must be set when APIKEYS_OIDC_ISSUER is: the URL browsers open this server at, such as https://keys.example.com");
  }
  const publicUrl = httpsUrl(env, "APIKEYS_PUBLIC_URL", "this server as browsers reach it");
  if (!publicUrl.pathname.endsWith("/")) publicUrl.pathname += "/";
  const scopes = (env.APIKEYS_OIDC_SCOPES || "openid profile email").split(/[\s,]+/).filter((s) => s !== "");
  if (!scopes.includes("openid")) {
    throw new ConfigError(`APIKEYS_OIDC_SCOPES must include "openid"; got "${env.APIKEYS_OIDC_SCOPES}"`);
  }
  const fixedWorkspace = env.APIKEYS_OIDC_WORKSPACE_ID?.trim();
  const workspaceClaim = env.APIKEYS_OIDC_WORKSPACE_CLAIM?.trim();
  if (Boolean(fixedWorkspace) === Boolean(workspaceClaim)) {
    throw new ConfigError(
      "set exactly one of APIKEYS_OIDC_WORKSPACE_ID (every person signs in to that workspace) and APIKEYS_OIDC_WORKSPACE_CLAIM (the claim that names a person's workspace id)",
    );
  }
  const roleValues = {
    owner: valueList(env, "APIKEYS_OIDC_OWNER_VALUES"),
    admin: valueList(env, "APIKEYS_OIDC_ADMIN_VALUES"),
    member: valueList(env, "APIKEYS_OIDC_MEMBER_VALUES"),
    support: valueList(env, "APIKEYS_OIDC_SUPPORT_VALUES"),
  };
  if (roleValues.owner.size + roleValues.admin.size + roleValues.member.size + roleValues.support.size === 0) {
    throw new ConfigError(
      "set at least one of APIKEYS_OIDC_OWNER_VALUES, APIKEYS_OIDC_ADMIN_VALUES, APIKEYS_OIDC_MEMBER_VALUES and APIKEYS_OIDC_SUPPORT_VALUES: comma-separated values of APIKEYS_OIDC_ROLE_CLAIM that give each role",
    );
  }
  const seen = new Map<string, string>();
  for (const [role, values] of Object.entries(roleValues)) {
    for (const value of values) {
      const other = seen.get(value);
      if (other) throw new ConfigError(`"${value}" is listed for both ${other} and ${role}: give each claim value one role`);
      seen.set(value, role);
    }
  }
  return Object.freeze({
    issuer,
    clientId,
    clientSecret,
    publicUrl,
    redirectUri: new URL("auth/oidc/callback", publicUrl),
    displayName: env.APIKEYS_OIDC_DISPLAY_NAME?.trim() || "Sign in with single sign-on",
    scopes: Object.freeze(scopes),
    workspace: Object.freeze(fixedWorkspace ? { fixed: fixedWorkspace } : { claim: workspaceClaim! }),
    roleClaim: env.APIKEYS_OIDC_ROLE_CLAIM?.trim() || "groups",
    roleValues: Object.freeze(roleValues),
  });
}
