// The ApiKey construct: one API key whose secret never enters Terraform state. The provider mints
// the key material in an ephemeral resource; the key takes it through its write-only `secret_wo`,
// and every secret store takes the same ephemeral value through its own write-only argument.
//
// Rotation: bump `rotationVersion`. The key has create_before_destroy and `secret_wo_version`
// replaces it, so one apply (1) creates the new key, (2) writes the new secret into every store
// (each depends on the key, and its version argument is the key's `secret_version`, which the new
// key changes), (3) deletes the old key, which keeps verifying for its grace period. A key deleted
// outside Terraform is created again with a new secret and a new `secret_version`, so the stores are
// rewritten then too.
//
// A store is written with this run's key material, which is the key's secret only in a run that
// creates the key. A store written in any other run (one added to an existing key, or a retry after
// the store failed) would hold a secret no key has: bump `rotationVersion` then. CommandStore checks
// this and refuses; the cloud stores cannot.
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
   * Where the secret is written. Each store writes it through its own write-only argument, and is
   * rewritten whenever the key gets a new secret (its `secret_version` changes). A store added to an
   * existing key, or retried after it failed, would receive key material that is not the key's
   * secret: bump `rotationVersion` in the same apply, so the key and every store get one new secret
   * (CommandStore refuses to run instead; cloud stores cannot tell).
   * @default - none: the secret is minted, given to the key and then forgotten
   */
  readonly secretStores?: SecretStore[];
  /**
   * Version of the key material, a positive integer. Bump it to rotate: a new key is created, the
   * stores are rewritten, then the old key is deleted. Bump it too after a store failed to write,
   * and when adding a store to an existing key.
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
   * Token prefix; must match the server's key prefix (a different one fails at plan time).
   * @default - the server's key prefix, read by the provider
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
  /** Reference to the key's `secret_version`, which changes whenever the key gets a new secret. */
  readonly secretVersion: number;
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
    this.apiKeyId = this.resource.id;
    this.hint = this.resource.hint;
    this.secretVersion = this.resource.secretVersion;
    for (const store of props.secretStores ?? []) {
      // Versioned by `secret_version`, not by `rotationVersion`: a key re-created after it was
      // deleted outside Terraform has a new secret under the same rotation version.
      store.bind(this, { token: material.token, version: this.secretVersion, keyResource: this.resource });
    }
  }
}
