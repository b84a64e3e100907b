// The go-plugin handshake between Terraform and this provider.
//
// Terraform starts the provider with an environment (magic cookie, PLUGIN_CLIENT_CERT, protocol
// versions, port range), and the provider answers with one line on stdout, before anything else
// is printed there:
//
//   CORE-PROTOCOL|APP-PROTOCOL|NETWORK|ADDRESS|PROTOCOL|SERVER-CERT
//   1|6|tcp|127.0.0.1:PORT|grpc|<DER certificate, base64 without padding>
//
// Then Terraform dials ADDRESS over mutual TLS: it trusts only the certificate from the line
// (with ServerName "localhost"), and we trust only the one it passed in PLUGIN_CLIENT_CERT.
// Constants verified against hashicorp/terraform internal/plugin/serve.go and
// hashicorp/go-plugin server.go.

import { ServerCredentials } from "@grpc/grpc-js";
import type { PluginCertificate } from "./certificate.js";

/** go-plugin's own protocol version: the first field of the handshake line. */
export const CORE_PROTOCOL_VERSION = 1;
/** The Terraform plugin protocol we speak: tfplugin6. */
export const APP_PROTOCOL_VERSION = 6;
/** Not a security measure: it only tells a plugin that Terraform, not a human, started it. */
export const MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE";
export const MAGIC_COOKIE_VALUE =
  "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

export interface PluginEnvironment {
  /** Terraform's client certificate (PEM): the only certificate we accept from a client. */
  readonly clientCertPem: string;
  /** Port range to listen in (PLUGIN_MIN_PORT / PLUGIN_MAX_PORT), when Terraform sets one. */
  readonly minPort?: number;
  readonly maxPort?: number;
  /** App protocol versions Terraform offers (PLUGIN_PROTOCOL_VERSIONS); [] when unset. */
  readonly protocolVersions: number[];
}

/** This process was not started by Terraform, or by a Terraform we cannot talk to. */
export class NotLaunchedByTerraformError extends Error {
  override readonly name = "NotLaunchedByTerraformError";
}

const HOW_TO_RUN = [
  "This binary is a Terraform provider plugin. It is not meant to be executed directly:",
  "Terraform starts it. Point Terraform at it in your CLI configuration (~/.terraformrc or",
  "TF_CLI_CONFIG_FILE), either with a provider_installation { dev_overrides { ... } } block",
  "naming this directory (no `terraform init` needed), or with a filesystem_mirror holding the",
  "packaged provider, then run terraform as usual. See the README for both setups.",
].join("\n");

/** Reads and checks what Terraform passes to a plugin; throws NotLaunchedByTerraformError. */
export function readPluginEnvironment(
  env: Readonly<Record<string, string | undefined>> = process.env,
): PluginEnvironment {
  if (env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE_VALUE) {
    throw new NotLaunchedByTerraformError(HOW_TO_RUN);
  }

  const clientCertPem = env.PLUGIN_CLIENT_CERT ?? "";
  if (!clientCertPem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new NotLaunchedByTerraformError(
      "PLUGIN_CLIENT_CERT is missing or not a PEM certificate. This provider requires go-plugin's " +
        "automatic mutual TLS, which Terraform always sets up; it refuses to serve without it.\n\n" +
        HOW_TO_RUN,
    );
  }

  // Like go-plugin: a comma-separated list, entries that are not integers are skipped.
  const protocolVersions = (env.PLUGIN_PROTOCOL_VERSIONS ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
  if (env.PLUGIN_PROTOCOL_VERSIONS && !protocolVersions.includes(APP_PROTOCOL_VERSION)) {
    throw new NotLaunchedByTerraformError(
      `This provider speaks plugin protocol ${APP_PROTOCOL_VERSION} (Terraform 1.0 and later; ` +
        `1.11+ for write-only arguments), but this Terraform offers only ` +
        `${env.PLUGIN_PROTOCOL_VERSIONS}. Upgrade Terraform.`,
    );
  }

  const minPort = parsePort(env.PLUGIN_MIN_PORT);
  const maxPort = parsePort(env.PLUGIN_MAX_PORT);
  return {
    clientCertPem,
    protocolVersions,
    ...(minPort !== undefined ? { minPort } : {}),
    ...(maxPort !== undefined ? { maxPort } : {}),
  };
}

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/**
 * Server-side mutual TLS for go-plugin: present our certificate, require a client certificate,
 * and trust only Terraform's (PLUGIN_CLIENT_CERT), which is self-signed and its own root.
 */
export function serverCredentials(
  cert: Pick<PluginCertificate, "certPem" | "keyPem">,
  clientCertPem: string,
): ServerCredentials {
  return ServerCredentials.createSsl(
    Buffer.from(clientCertPem),
    [{ private_key: Buffer.from(cert.keyPem), cert_chain: Buffer.from(cert.certPem) }],
    true,
  );
}

/**
 * The line to print on stdout once the server listens, newline included. The certificate is the
 * raw DER in standard base64 without '=' padding (Go's base64.RawStdEncoding), because the
 * protocol is line-based and PEM has newlines.
 */
export function handshakeLine(port: number, certDer: Buffer): string {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bad port ${port}`);
  const cert = certDer.toString("base64").replace(/=+$/, "");
  return (
    [CORE_PROTOCOL_VERSION, APP_PROTOCOL_VERSION, "tcp", `127.0.0.1:${port}`, "grpc", cert].join(
      "|",
    ) + "\n"
  );
}
