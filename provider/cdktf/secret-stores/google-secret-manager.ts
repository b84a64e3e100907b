// Google Secret Manager: a new version of an existing secret, written through
// `google_secret_manager_secret_version`'s write-only `secret_data_wo` and its
// `secret_data_wo_version` (names from the provider's schema as generated into
// @cdktf/provider-google-beta for google-beta 6.23.0, "docs/resources/google_secret_manager_secret_version
// #secret_data_wo_version", and the Pulumi GCP SecretVersion docs generated from the same schema:
// "write-only values will not be stored in the state: secret_data_wo"). A changed version replaces
// the secret version, hence create_before_destroy.
import type { Construct } from "constructs";
import type { TerraformProvider } from "cdktf";
import { requireProvider } from "../provider-requirement.js";
import { RawResource } from "../raw-resource.js";
import type { SecretStore, SecretStoreKey } from "../secret-store.js";
import { terraformLiteral } from "../terraform-literal.js";
import { requireText } from "../validation.js";

export interface GoogleSecretManagerStoreProps {
  /** Id of an existing `google_secret_manager_secret`, such as `projects/my-project/secrets/datadog-production-metrics`. */
  readonly secret: string;
  /**
   * Construct id of the secret version resource under the ApiKey.
   * @default "GoogleSecretManager"
   */
  readonly id?: string;
  /**
   * A `google` provider configuration.
   * @default - the default google provider configuration
   */
  readonly provider?: TerraformProvider;
}

/** Writes the key's secret as a new version of a Google Secret Manager secret. */
export class GoogleSecretManagerStore implements SecretStore {
  readonly id: string;
  private readonly props: GoogleSecretManagerStoreProps;

  constructor(props: GoogleSecretManagerStoreProps) {
    requireText("GoogleSecretManagerStore", "secret", props.secret, "projects/my-project/secrets/datadog-production-metrics");
    this.id = props.id ?? "GoogleSecretManager";
    this.props = props;
  }

  bind(scope: Construct, key: SecretStoreKey): void {
    requireProvider(scope, { name: "google", source: "hashicorp/google" });
    new RawResource(scope, this.id, {
      terraformResourceType: "google_secret_manager_secret_version",
      provider: this.props.provider,
      dependsOn: [key.keyResource],
      lifecycle: { createBeforeDestroy: true },
      attributes: {
        secret: terraformLiteral(this.props.secret),
        secret_data_wo: key.token,
        secret_data_wo_version: key.version,
      },
    });
  }
}
