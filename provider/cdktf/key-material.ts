// The `apikeys_key_material` ephemeral resource. cdktf 0.21 has no class for ephemeral resources, so
// this element writes the top-level block itself:
//
//   {"ephemeral": {"apikeys_key_material": {"<logical id>": {"prefix": "ak"}}}}
//
// and hands out references such as "${ephemeral.apikeys_key_material.<logical id>.token}" as cdktf
// tokens. cdktf resolves them like any resource reference (no escaping: a reference is an
// expression), so the JSON holds the interpolation and Terraform opens the ephemeral resource
// during plan and apply, never storing its values.
import type { Construct } from "constructs";
import { TerraformElement, Token, dependable, ref } from "cdktf";
import type { ITerraformDependable, TerraformProvider } from "cdktf";
import { hclOutputUnsupported } from "./hcl-output.js";
import { APIKEYS_PROVIDER_REQUIREMENT } from "./provider.js";
import { requireProvider } from "./provider-requirement.js";

const EPHEMERAL_TYPE = "apikeys_key_material";

export interface KeyMaterialConfig {
  /**
   * Token prefix; must match the server's key prefix (a different one fails at plan time).
   * @default - the server's key prefix, read by the provider
   */
  readonly prefix?: string;
  /**
   * The apikeys provider configuration to use.
   * @default - the default apikeys provider
   */
  readonly provider?: TerraformProvider;
  /**
   * Resources to open this ephemeral resource after.
   * @default - none
   */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * Key material minted locally by the provider, never stored in state or plan: a well-formed token
 * for `ApiKeyResource.secretWo` and for secret stores' write-only arguments.
 */
export class KeyMaterial extends TerraformElement implements ITerraformDependable {
  /** The ephemeral resource type in Terraform. */
  static readonly tfEphemeralType = EPHEMERAL_TYPE;

  private readonly config: KeyMaterialConfig;

  constructor(scope: Construct, id: string, config: KeyMaterialConfig = {}) {
    // The element type makes `fqn` (used by depends_on) "ephemeral.apikeys_key_material.<id>".
    super(scope, id, `ephemeral.${EPHEMERAL_TYPE}`);
    this.config = config;
    requireProvider(this, APIKEYS_PROVIDER_REQUIREMENT);
  }

  /** Reference to the sensitive token; usable only where Terraform accepts ephemeral values. */
  get token(): string {
    return this.attribute("token");
  }

  /** Reference to the token's public key id. */
  get keyId(): string {
    return this.attribute("key_id");
  }

  /** Reference to the token's display hint. */
  get hint(): string {
    return this.attribute("hint");
  }

  override toTerraform(): Record<string, unknown> {
    const body: Record<string, unknown> = {
      prefix: this.config.prefix,
      provider: this.config.provider?.fqn,
      depends_on: this.config.dependsOn?.map((d) => dependable(d)),
      ...this.rawOverrides,
      "//": this.constructNodeMetadata,
    };
    return { ephemeral: { [EPHEMERAL_TYPE]: { [this.friendlyUniqueId]: body } } };
  }

  override toHclTerraform(): never {
    return hclOutputUnsupported(`KeyMaterial "${this.node.id}"`);
  }

  private attribute(name: string): string {
    return Token.asString(ref(`ephemeral.${EPHEMERAL_TYPE}.${this.friendlyUniqueId}.${name}`, this.cdktfStack));
  }
}
