// Hand-written binding for the `apikeys_scopes` data source: the server's scope catalog.
import type { Construct } from "constructs";
import { TerraformDataSource } from "cdktf";
import type { IResolvable, TerraformMetaArguments } from "cdktf";
import { hclOutputUnsupported } from "./hcl-output.js";
import { APIKEYS_PROVIDER_REQUIREMENT } from "./provider.js";
import { requireProvider } from "./provider-requirement.js";

export type ScopesDataSourceConfig = TerraformMetaArguments;

/** `data "apikeys_scopes"`: every scope name in the catalog, with descriptions. */
export class ScopesDataSource extends TerraformDataSource {
  /** The data source type in Terraform. */
  static readonly tfResourceType = "apikeys_scopes";

  constructor(scope: Construct, id: string, config: ScopesDataSourceConfig = {}) {
    super(scope, id, {
      terraformResourceType: ScopesDataSource.tfResourceType,
      terraformGeneratorMetadata: { providerName: "apikeys" },
      provider: config.provider,
      dependsOn: config.dependsOn,
      count: config.count,
      lifecycle: config.lifecycle,
      forEach: config.forEach,
    });
    requireProvider(this, APIKEYS_PROVIDER_REQUIREMENT);
  }

  /** Reference to the list of scope names. */
  get names(): string[] {
    return this.getListAttribute("names");
  }

  /** Reference to the list of `{name, description}` objects. */
  get scopes(): IResolvable {
    return this.interpolationForAttribute("scopes");
  }

  override toHclTerraform(): never {
    return hclOutputUnsupported(`ScopesDataSource "${this.node.id}"`);
  }
}
