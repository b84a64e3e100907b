// Where Terraform finds this provider: its source address, version and platform directory.
// `apikeys.local` is not a registry host; the provider is installed from a filesystem mirror or
// a dev override, so Terraform never looks it up on the network.

/** The address to use in required_providers. */
export const PROVIDER_SOURCE = "apikeys.local/apikeys/apikeys";
/** Version of the provider built from this checkout. */
export const PROVIDER_VERSION = "0.1.0";

/** Terraform's name for this machine's platform, such as linux_amd64. */
export function providerPlatform(): string {
  const arch: Record<string, string> = { x64: "amd64", arm64: "arm64", ia32: "386", arm: "arm" };
  return `${process.platform}_${arch[process.arch] ?? process.arch}`;
}
