// Binding for our Terraform provider's configuration block (`provider "apikeys" {}`).
import type { Construct } from "constructs";
import { TerraformProvider, Token } from "cdktf";
import { PROVIDER_SOURCE } from "../provider-address.js";
import { hclOutputUnsupported } from "./hcl-output.js";
import type { ProviderRequirement } from "./provider-requirement.js";

/** Where Terraform finds the provider (a filesystem mirror or dev_overrides entry in the CLI config). */
export const APIKEYS_PROVIDER_SOURCE = PROVIDER_SOURCE;
/** The provider versions this library's bindings are written for. */
export const APIKEYS_PROVIDER_VERSION = "~> 0.1";
/** Declared by every binding, so Terraform finds the provider even without an ApikeysProvider. */
export const APIKEYS_PROVIDER_REQUIREMENT: ProviderRequirement = {
  name: "apikeys",
  source: APIKEYS_PROVIDER_SOURCE,
  version: APIKEYS_PROVIDER_VERSION,
};

export interface ApikeysProviderConfig {
  /**
   * The apikeys server's HTTP port URL, such as `http://127.0.0.1:8080`.
   * @default - the APIKEYS_ENDPOINT environment variable
   */
  readonly endpoint?: string;
  /**
   * The caller's bearer token, as a reference (for example a sensitive TerraformVariable's value).
   * A literal string is refused: it would be written into the synthesized JSON.
   * @default - the APIKEYS_TOKEN environment variable
   */
  readonly token?: string;
  /**
   * PEM certificate of the CA that signed the server's TLS certificate.
   * @default - the system's trusted CAs
   */
  readonly caCertificate?: string;
  /**
   * Alias of this provider configuration, when a stack talks to several servers.
   * @default - the default configuration
   */
  readonly alias?: string;
}

/** The `apikeys` provider: declares `required_providers.apikeys` and configures the provider. */
export class ApikeysProvider extends TerraformProvider {
  /** The provider's local name in Terraform. */
  static readonly tfResourceType = "apikeys";

  private readonly config: ApikeysProviderConfig;
  private aliasName: string | undefined;

  constructor(scope: Construct, id: string, config: ApikeysProviderConfig = {}) {
    super(scope, id, {
      terraformResourceType: ApikeysProvider.tfResourceType,
      terraformGeneratorMetadata: { providerName: "apikeys", providerVersionConstraint: APIKEYS_PROVIDER_VERSION },
      terraformProviderSource: APIKEYS_PROVIDER_SOURCE,
    });
    if (config.token !== undefined && !Token.isUnresolved(config.token)) {
      throw new Error(
        `ApikeysProvider "${id}": token must be a reference (for example a sensitive TerraformVariable's value), ` +
          "not a literal string, which would be written into the synthesized JSON; or leave it out and set APIKEYS_TOKEN.",
      );
    }
    this.config = config;
    this.aliasName = config.alias;
  }

  override get alias(): string | undefined {
    return this.aliasName;
  }

  override set alias(value: string | undefined) {
    this.aliasName = value;
  }

  protected override synthesizeAttributes(): Record<string, unknown> {
    return {
      endpoint: this.config.endpoint,
      token: this.config.token,
      ca_certificate: this.config.caCertificate,
    };
  }

  override toHclTerraform(): never {
    return hclOutputUnsupported(`ApikeysProvider "${this.node.id}"`);
  }
}
