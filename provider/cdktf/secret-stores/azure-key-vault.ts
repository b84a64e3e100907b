// Azure Key Vault: a secret whose value is written through `azurerm_key_vault_secret`'s write-only
// `value_wo` and its `value_wo_version`, with `name` and `key_vault_id` (names from the provider's
// schema as generated into @cdktf/provider-azurerm for azurerm 4.39.0, 4.81.0 and 5.3.0:
// "docs/resources/key_vault_secret#value_wo" and "#value_wo_version"). A changed version writes a
// new version of the same Key Vault secret. No create_before_destroy: the secret keeps its name, so a
// replacement created first would collide with the old one.
import type { Construct } from "constructs";
import type { TerraformProvider } from "cdktf";
import { requireProvider } from "../provider-requirement.js";
import { RawResource } from "../raw-resource.js";
import type { SecretStore, SecretStoreKey } from "../secret-store.js";
import { terraformLiteral } from "../terraform-literal.js";
import { requireText } from "../validation.js";

export interface AzureKeyVaultStoreProps {
  /** Name of the Key Vault secret (letters, digits and "-"). */
  readonly name: string;
  /**
   * Id of the Key Vault: usually a reference (a cdktf token), such as `vault.id` of a `KeyVault`
   * from @cdktf/provider-azurerm, `Token.asString(ref("azurerm_key_vault.example.id"))` for a vault
   * declared elsewhere in the stack, or a TerraformVariable's `stringValue`; or a literal resource id,
   * `/subscriptions/<subscription>/resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/<vault>`.
   * Literal text is taken literally (a typed `"${azurerm_key_vault.example.id}"` stays that text), a
   * token becomes the Terraform reference.
   */
  readonly keyVaultId: string;
  /**
   * Construct id of the secret resource under the ApiKey.
   * @default "AzureKeyVault"
   */
  readonly id?: string;
  /**
   * An `azurerm` provider configuration (the provider needs a `features {}` block).
   * @default - the default azurerm provider configuration
   */
  readonly provider?: TerraformProvider;
}

/** Writes the key's secret into an Azure Key Vault secret. */
export class AzureKeyVaultStore implements SecretStore {
  readonly id: string;
  private readonly props: AzureKeyVaultStoreProps;

  constructor(props: AzureKeyVaultStoreProps) {
    requireText("AzureKeyVaultStore", "name", props.name, "github-actions-staging-deploy");
    requireText(
      "AzureKeyVaultStore",
      "keyVaultId",
      props.keyVaultId,
      "/subscriptions/<subscription>/resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/<vault>",
      "vault.id of a KeyVault resource",
    );
    this.id = props.id ?? "AzureKeyVault";
    this.props = props;
  }

  bind(scope: Construct, key: SecretStoreKey): void {
    requireProvider(scope, { name: "azurerm", source: "hashicorp/azurerm" });
    new RawResource(scope, this.id, {
      terraformResourceType: "azurerm_key_vault_secret",
      provider: this.props.provider,
      dependsOn: [key.keyResource],
      attributes: {
        name: terraformLiteral(this.props.name),
        // A token (`vault.id`) stays a reference; only literal text is escaped.
        key_vault_id: terraformLiteral(this.props.keyVaultId),
        value_wo: key.token,
        value_wo_version: key.version,
      },
    });
  }
}
