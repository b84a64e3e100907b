// Hand-written binding for the `apikeys_api_key` resource (its schema is fixed, so no `cdktf get`).
import type { Construct } from "constructs";
import { TerraformResource } from "cdktf";
import type { TerraformMetaArguments } from "cdktf";
import type { Access } from "./access.js";
import { hclOutputUnsupported } from "./hcl-output.js";
import { APIKEYS_PROVIDER_REQUIREMENT } from "./provider.js";
import { requireProvider } from "./provider-requirement.js";
import { metaArguments } from "./raw-resource.js";

export interface ApiKeyResourceConfig extends TerraformMetaArguments {
  /** Display name, 1–100 characters; convention: Tool + environment + purpose. */
  readonly name: string;
  /** `"full"` or `"custom"`. */
  readonly access: Access;
  /**
   * Scopes granted with custom access; must be left out for full access.
   * @default - none
   */
  readonly scopes?: string[];
  /**
   * Client-minted key material, a write-only argument: an ephemeral reference such as
   * `KeyMaterial.token`, never a literal.
   * @default - classic mode: the server mints the secret and Terraform keeps it in the sensitive `secret` attribute
   */
  readonly secretWo?: string;
  /**
   * Version of `secretWo`; any change replaces the key.
   * @default - none
   */
  readonly secretWoVersion?: number;
  /**
   * Seconds the key keeps verifying after Terraform deletes it (on destroy or replacement), 0–86400.
   * @default - the provider's default (0)
   */
  readonly gracePeriodSeconds?: number;
}

/** An `apikeys_api_key` resource. Most code wants the `ApiKey` construct instead. */
export class ApiKeyResource extends TerraformResource {
  /** The resource type in Terraform. */
  static readonly tfResourceType = "apikeys_api_key";

  private readonly config: ApiKeyResourceConfig;

  constructor(scope: Construct, id: string, config: ApiKeyResourceConfig) {
    super(scope, id, {
      terraformResourceType: ApiKeyResource.tfResourceType,
      terraformGeneratorMetadata: { providerName: "apikeys" },
      ...metaArguments(config),
    });
    this.config = config;
    requireProvider(this, APIKEYS_PROVIDER_REQUIREMENT);
  }

  /** The key's id (public: the 12 characters after the prefix). */
  get id(): string {
    return this.getStringAttribute("id");
  }

  /** Display hint: prefix and last characters of the secret. */
  get hint(): string {
    return this.getStringAttribute("hint");
  }

  /** Creation time (RFC 3339). */
  get createdAt(): string {
    return this.getStringAttribute("created_at");
  }

  /** Last change time (RFC 3339). */
  get updatedAt(): string {
    return this.getStringAttribute("updated_at");
  }

  /**
   * Reference to the key's `secret_version` (a number token): changes whenever the key gets a new
   * secret (on creation, on re-creation after the key was deleted outside Terraform, on replacement
   * by a version bump). Give it to secret stores as their write-only argument's version.
   */
  get secretVersion(): number {
    return this.getNumberAttribute("secret_version");
  }

  /** Reference to the sensitive secret, set only in classic mode (without `secretWo`). */
  get secret(): string {
    return this.getStringAttribute("secret");
  }

  protected override synthesizeAttributes(): Record<string, unknown> {
    return {
      name: this.config.name,
      access: this.config.access,
      scopes: this.config.scopes,
      secret_wo: this.config.secretWo,
      secret_wo_version: this.config.secretWoVersion,
      grace_period_seconds: this.config.gracePeriodSeconds,
    };
  }

  override toHclTerraform(): never {
    return hclOutputUnsupported(`ApiKeyResource "${this.node.id}"`);
  }
}
