// Declares `terraform.required_providers.<name>` for a provider whose resources we bind by hand, so
// `terraform init` fetches it even when the app configures no provider block of its own.
import type { Construct } from "constructs";
import { TerraformElement, TerraformStack } from "cdktf";

export interface ProviderRequirement {
  /** The provider's local name, such as `aws`. */
  readonly name: string;
  /** Its source address, such as `hashicorp/aws`. */
  readonly source: string;
  /**
   * Version constraint.
   * @default - any version
   */
  readonly version?: string;
}

class RequiredProvider extends TerraformElement {
  constructor(
    scope: Construct,
    id: string,
    private readonly requirement: ProviderRequirement,
  ) {
    super(scope, id);
  }

  override toTerraform(): Record<string, unknown> {
    const { name, source, version } = this.requirement;
    return { terraform: { required_providers: { [name]: { source, version } } } };
  }

  override toHclTerraform(): Record<string, unknown> {
    return this.toTerraform();
  }
}

/** Adds the requirement to `scope`'s stack once, however many resources need it. */
export function requireProvider(scope: Construct, requirement: ProviderRequirement): void {
  const stack = TerraformStack.of(scope);
  const id = `RequiredProvider-${requirement.name}`;
  if (!stack.node.tryFindChild(id)) new RequiredProvider(stack, id, requirement);
}
