// HashiCorp Vault KV version 2: a secret written through `vault_kv_secret_v2`'s write-only
// `data_json_wo` and its `data_json_wo_version`, with `mount` and `name` (names from
// terraform-provider-vault website/docs/guides/using_write_only_attributes.html.markdown:
// "`vault_kv_secret_v2: data_json_wo` ... must always be supplied with the attribute's version
// parameter ... `data_json_wo_version`"). The data is `jsonencode({<key> = token})`, evaluated by
// Terraform, so the token stays a reference. A changed version updates the secret in place (a new KV
// version at the same path); no create_before_destroy, whose destroy step would delete the path.
import type { Construct } from "constructs";
import { Fn } from "cdktf";
import type { TerraformProvider } from "cdktf";
import { requireProvider } from "../provider-requirement.js";
import { RawResource } from "../raw-resource.js";
import type { SecretStore, SecretStoreKey } from "../secret-store.js";
import { terraformLiteral } from "../terraform-literal.js";
import { requireDataKey, requireText } from "../validation.js";

export interface VaultKvV2StoreProps {
  /** Path where the KV-V2 engine is mounted, such as `secret`. */
  readonly mount: string;
  /** Name of the secret under the mount, such as `integrations/snowflake-production-export`. */
  readonly name: string;
  /**
   * Key of the token in the secret's data.
   * @default "api_key"
   */
  readonly key?: string;
  /**
   * Construct id of the secret resource under the ApiKey.
   * @default "VaultKvV2"
   */
  readonly id?: string;
  /**
   * A `vault` provider configuration.
   * @default - the default vault provider configuration
   */
  readonly provider?: TerraformProvider;
}

/** Writes the key's secret into a Vault KV-V2 secret, as `{"api_key": "<token>"}`. */
export class VaultKvV2Store implements SecretStore {
  readonly id: string;
  private readonly props: VaultKvV2StoreProps;
  private readonly key: string;

  constructor(props: VaultKvV2StoreProps) {
    requireText("VaultKvV2Store", "mount", props.mount, "secret");
    requireText("VaultKvV2Store", "name", props.name, "integrations/snowflake-production-export");
    this.key = requireDataKey("VaultKvV2Store", props.key ?? "api_key");
    this.id = props.id ?? "VaultKvV2";
    this.props = props;
  }

  bind(scope: Construct, key: SecretStoreKey): void {
    requireProvider(scope, { name: "vault", source: "hashicorp/vault" });
    new RawResource(scope, this.id, {
      terraformResourceType: "vault_kv_secret_v2",
      provider: this.props.provider,
      dependsOn: [key.keyResource],
      attributes: {
        mount: terraformLiteral(this.props.mount),
        name: terraformLiteral(this.props.name),
        data_json_wo: Fn.jsonencode({ [this.key]: key.token }),
        data_json_wo_version: key.version,
      },
    });
  }
}
