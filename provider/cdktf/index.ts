// The CDKTF construct library for apikeys: bindings for our provider, the ApiKey construct and
// secret stores. Imports only `cdktf` and `constructs` (and, from this repository, the shared key
// format, the key-name rule and the provider's source address), so it works unchanged with
// cdktf's import-compatible successor.
export { Access } from "./access.js";
export { ApiKey } from "./api-key.js";
export type { ApiKeyProps } from "./api-key.js";
export { ApiKeyResource } from "./api-key-resource.js";
export type { ApiKeyResourceConfig } from "./api-key-resource.js";
export { KeyMaterial } from "./key-material.js";
export type { KeyMaterialConfig } from "./key-material.js";
export { ApikeysProvider, APIKEYS_PROVIDER_SOURCE, APIKEYS_PROVIDER_VERSION } from "./provider.js";
export type { ApikeysProviderConfig } from "./provider.js";
export { requireProvider } from "./provider-requirement.js";
export type { ProviderRequirement } from "./provider-requirement.js";
export { RawResource } from "./raw-resource.js";
export type { RawResourceConfig } from "./raw-resource.js";
export { ScopesDataSource } from "./scopes-data-source.js";
export type { ScopesDataSourceConfig } from "./scopes-data-source.js";
export type { SecretStore, SecretStoreKey } from "./secret-store.js";
export { AwsSecretsManagerStore } from "./secret-stores/aws-secrets-manager.js";
export type { AwsSecretsManagerStoreProps } from "./secret-stores/aws-secrets-manager.js";
export { AzureKeyVaultStore } from "./secret-stores/azure-key-vault.js";
export type { AzureKeyVaultStoreProps } from "./secret-stores/azure-key-vault.js";
export { CommandStore } from "./secret-stores/command.js";
export type { CommandStoreProps } from "./secret-stores/command.js";
export { GoogleSecretManagerStore } from "./secret-stores/google-secret-manager.js";
export type { GoogleSecretManagerStoreProps } from "./secret-stores/google-secret-manager.js";
export { KubernetesSecretStore } from "./secret-stores/kubernetes-secret.js";
export type { KubernetesSecretStoreProps } from "./secret-stores/kubernetes-secret.js";
export { VaultKvV2Store } from "./secret-stores/vault-kv-v2.js";
export type { VaultKvV2StoreProps } from "./secret-stores/vault-kv-v2.js";
export { terraformLiteral } from "./terraform-literal.js";
