// The ApiKey construct: one API key whose secret never enters Terraform state. The provider mints
// the key material in an ephemeral resource; the key takes it through its write-only `secret_wo`,
// and every secret store takes the same ephemeral value through its own write-only argument.
//
// Rotation: bump `rotationVersion`. The key has create_before_destroy and `secret_wo_version`
// replaces it, so one apply (1) creates the new key, (2) writes the new secret into every store
// (each depends on the key and its version argument changed), (3) deletes the old key, which keeps
// verifying for its grace period.
import { Construct } from "constructs";
import type { TerraformProvider } from "cdktf";
import type { Access } from "./access.js";
import { ApiKeyResource } from "./api-key-resource.js";
import { KeyMaterial } from "./key-material.js";
import type { SecretStore } from "./secret-store.js";
import { terraformLiteral } from "./terraform-literal.js";
import { validateApiKeyProps } from "./validation.js";

export interface ApiKeyProps {
  /**
   * Display name, 1–100 characters after trimming. Convention: Tool + environment + purpose, such as
   * "Snowflake production data warehouse export".
   */
  readonly name: string;
  /** `"full"` (every scope, including scopes added later) or `"custom"` (exactly `scopes`). */
  readonly access: Access;
  /**
   * Scopes for custom access, such as `["orders:read"]`; required for custom, refused for full.
   * @default - none
   */
  readonly scopes?: string[];
  /**
   * Where the secret is written. Each store writes it through its own write-only argument.
   * Adding a store to an existing key writes a new secret only there: bump `rotationVersion`
   * to give every store (and the key) the same new secret.
   * @default - none: the secret is minted, given to the key and then forgotten
   */
  readonly secretStores?: SecretStore[];
  /**
   * Version of the key material, a positive integer. Bump it to rotate: a new key is created, the
   * stores are rewritten, then the old key is deleted.
   * @default 1
   */
  readonly rotationVersion?: number;
  /**
   * Seconds a deleted key (destroyed, or replaced by a rotation) keeps verifying, 0–86400. The
   * value in effect is the one the old key was applied with.
   * @default 0
   */
  readonly gracePeriodSeconds?: number;
  /**
   * Token prefix; must match the server's key prefix.
   * @default "ak"
   */
  readonly keyPrefix?: string;
  /**
   * The apikeys provider configuration for the key and its key material.
   * @default - the default apikeys provider configuration
   */
  readonly provider?: TerraformProvider;
}

/** An API key declared as code, its secret written straight into secret stores. */
export class ApiKey extends Construct {
  /** The key's id (public). */
  readonly apiKeyId: string;
  /** Display hint: prefix and last characters of the secret (not the secret). */
  readonly hint: string;
  /** The underlying `apikeys_api_key` resource. */
  readonly resource: ApiKeyResource;

  constructor(scope: Construct, id: string, props: ApiKeyProps) {
    super(scope, id);
    const valid = validateApiKeyProps(id, props);

    const material = new KeyMaterial(this, "KeyMaterial", { prefix: valid.keyPrefix, provider: props.provider });
    this.resource = new ApiKeyResource(this, "Resource", {
      name: terraformLiteral(valid.name),
      access: valid.access,
      scopes: valid.scopes?.map(terraformLiteral),
      secretWo: material.token,
      secretWoVersion: valid.rotationVersion,
      gracePeriodSeconds: valid.gracePeriodSeconds,
      provider: props.provider,
      lifecycle: { createBeforeDestroy: true },
    });
    for (const store of props.secretStores ?? []) {
      store.bind(this, { token: material.token, version: valid.rotationVersion, keyResource: this.resource });
    }
    this.apiKeyId = this.resource.id;
    this.hint = this.resource.hint;
  }
}
