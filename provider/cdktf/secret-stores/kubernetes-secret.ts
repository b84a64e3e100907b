// Kubernetes: a Secret whose data is written through `kubernetes_secret_v1`'s write-only `data_wo`
// map and its `data_wo_revision` (names from the provider's schema as generated into
// @cdktf/provider-kubernetes for kubernetes 2.37.0: "dataWo ... A map write-only of the secret
// data" and "dataWoRevision ... The current revision of the write-only "data_wo" attribute.
// Incrementing this integer value will cause Terraform to update the write-only value"). No
// create_before_destroy: the Secret keeps its name, so a replacement created first would collide.
import type { Construct } from "constructs";
import type { TerraformProvider } from "cdktf";
import { requireProvider } from "../provider-requirement.js";
import { RawResource } from "../raw-resource.js";
import type { SecretStore, SecretStoreKey } from "../secret-store.js";
import { terraformLiteral } from "../terraform-literal.js";
import { requireDataKey, requireText } from "../validation.js";

export interface KubernetesSecretStoreProps {
  /** Name of the Secret, such as `datadog-api-key`. */
  readonly name: string;
  /**
   * Namespace of the Secret.
   * @default - the provider's default namespace ("default")
   */
  readonly namespace?: string;
  /**
   * Key of the token in the Secret's data.
   * @default "api_key"
   */
  readonly key?: string;
  /**
   * Construct id of the Secret resource under the ApiKey.
   * @default "KubernetesSecret"
   */
  readonly id?: string;
  /**
   * A `kubernetes` provider configuration.
   * @default - the default kubernetes provider configuration
   */
  readonly provider?: TerraformProvider;
}

/** Writes the key's secret into a Kubernetes Secret (type Opaque). */
export class KubernetesSecretStore implements SecretStore {
  readonly id: string;
  private readonly props: KubernetesSecretStoreProps;
  private readonly key: string;

  constructor(props: KubernetesSecretStoreProps) {
    requireText("KubernetesSecretStore", "name", props.name, "datadog-api-key");
    if (props.namespace !== undefined) requireText("KubernetesSecretStore", "namespace", props.namespace, "monitoring");
    this.key = requireDataKey("KubernetesSecretStore", props.key ?? "api_key");
    this.id = props.id ?? "KubernetesSecret";
    this.props = props;
  }

  bind(scope: Construct, key: SecretStoreKey): void {
    requireProvider(scope, { name: "kubernetes", source: "hashicorp/kubernetes" });
    const namespace = this.props.namespace;
    new RawResource(scope, this.id, {
      terraformResourceType: "kubernetes_secret_v1",
      provider: this.props.provider,
      dependsOn: [key.keyResource],
      attributes: {
        metadata: {
          name: terraformLiteral(this.props.name),
          namespace: namespace === undefined ? undefined : terraformLiteral(namespace),
        },
        type: "Opaque",
        data_wo: { [this.key]: key.token },
        data_wo_revision: key.version,
      },
    });
  }
}
