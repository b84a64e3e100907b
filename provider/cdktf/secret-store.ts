// What a secret store implements. The ApiKey construct calls `bind` once per store; the store
// creates its resources in the given scope, writing `key.token` through its own write-only argument.
import type { Construct } from "constructs";
import type { ApiKeyResource } from "./api-key-resource.js";

/** What a store receives about the key it stores. */
export interface SecretStoreKey {
  /**
   * Reference to the ephemeral token. Terraform accepts it only in write-only arguments,
   * provisioners, provider configuration and other ephemeral contexts: never in ordinary arguments.
   */
  readonly token: string;
  /**
   * Reference to the key's `secret_version` (a number token, not the literal rotation version): it
   * changes whenever the key gets a new secret (creation, re-creation after the key was deleted
   * outside Terraform, replacement by a rotation). Use it as the write-only argument's version, so
   * the store is rewritten exactly then.
   */
  readonly version: number;
  /** The `apikeys_api_key` resource; store resources should depend on it. */
  readonly keyResource: ApiKeyResource;
}

/** A place the API key's secret is written to, such as a cloud secret manager. */
export interface SecretStore {
  /**
   * Construct id of the store's resources under the ApiKey, unique among the key's stores.
   * Public contract: changing it replaces the store's resources.
   */
  readonly id: string;
  /** Creates the store's resources in `scope` (the ApiKey construct). */
  bind(scope: Construct, key: SecretStoreKey): void;
}
