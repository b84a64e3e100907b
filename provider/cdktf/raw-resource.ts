// A resource of any type whose arguments are given exactly as Terraform names them. Secret stores
// use it so this library needs no generated bindings for other providers (and stays thin).
import type { Construct } from "constructs";
import { TerraformResource } from "cdktf";
import type { TerraformMetaArguments } from "cdktf";
import { hclOutputUnsupported } from "./hcl-output.js";

export interface RawResourceConfig extends TerraformMetaArguments {
  /** The resource type, such as `aws_secretsmanager_secret_version`. */
  readonly terraformResourceType: string;
  /** Arguments with Terraform's (snake_case) names; `undefined` values are left out. */
  readonly attributes: Record<string, unknown>;
}

/** Terraform's meta-arguments (provider, depends_on, count, lifecycle, …) out of a binding's config. */
export function metaArguments(config: TerraformMetaArguments): TerraformMetaArguments {
  const { provider, dependsOn, count, lifecycle, provisioners, connection, forEach } = config;
  return { provider, dependsOn, count, lifecycle, provisioners, connection, forEach };
}

/** A hand-bound resource: `resource "<type>" "<id>" { ...attributes }`. */
export class RawResource extends TerraformResource {
  private readonly attributes: Record<string, unknown>;

  constructor(scope: Construct, id: string, config: RawResourceConfig) {
    super(scope, id, {
      terraformResourceType: config.terraformResourceType,
      ...metaArguments(config),
    });
    this.attributes = config.attributes;
  }

  protected override synthesizeAttributes(): Record<string, unknown> {
    return this.attributes;
  }

  override toHclTerraform(): never {
    return hclOutputUnsupported(`RawResource "${this.node.id}"`);
  }
}
