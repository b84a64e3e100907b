// AWS Secrets Manager: a new version of an existing secret, written through
// `aws_secretsmanager_secret_version`'s write-only `secret_string_wo` and its
// `secret_string_wo_version` (argument names from terraform-provider-aws
// website/docs/r/secretsmanager_secret_version.html.markdown at v6.71.0: "Write-Only argument
// `secret_string_wo` is available to use in place of `secret_string`", with `secret_id`).
import type { Construct } from "constructs";
import type { TerraformProvider } from "cdktf";
import { requireProvider } from "../provider-requirement.js";
import { RawResource } from "../raw-resource.js";
import type { SecretStore, SecretStoreKey } from "../secret-store.js";
import { terraformLiteral } from "../terraform-literal.js";
import { requireText } from "../validation.js";

export interface AwsSecretsManagerStoreProps {
  /** ARN or name of an existing `aws_secretsmanager_secret`. */
  readonly secretId: string;
  /**
   * Construct id of the secret version resource under the ApiKey.
   * @default "AwsSecretsManager"
   */
  readonly id?: string;
  /**
   * An `aws` provider configuration, for example one for another region.
   * @default - the default aws provider configuration
   */
  readonly provider?: TerraformProvider;
}

/** Writes the key's secret as a new version of an AWS Secrets Manager secret. */
export class AwsSecretsManagerStore implements SecretStore {
  readonly id: string;
  private readonly props: AwsSecretsManagerStoreProps;

  constructor(props: AwsSecretsManagerStoreProps) {
    requireText("AwsSecretsManagerStore", "secretId", props.secretId, "apikeys/snowflake-production-export");
    this.id = props.id ?? "AwsSecretsManager";
    this.props = props;
  }

  bind(scope: Construct, key: SecretStoreKey): void {
    requireProvider(scope, { name: "aws", source: "hashicorp/aws" });
    new RawResource(scope, this.id, {
      terraformResourceType: "aws_secretsmanager_secret_version",
      provider: this.props.provider,
      dependsOn: [key.keyResource],
      // Each secret version is its own resource: if one is ever replaced, the new version is written
      // before the old one is removed, so the secret always has a current value.
      lifecycle: { createBeforeDestroy: true },
      attributes: {
        secret_id: terraformLiteral(this.props.secretId),
        secret_string_wo: key.token,
        secret_string_wo_version: key.version,
      },
    });
  }
}
