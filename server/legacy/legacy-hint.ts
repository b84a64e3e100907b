// Legacy secrets come from an older system in no known format. They are found by a hint (their
// first and last 4 characters, which support staff see anyway) and then checked against the hash.
export const LEGACY_MIN_LENGTH = 24;
export const LEGACY_MAX_LENGTH = 512;
const PRINTABLE = /^[\x21-\x7e]+$/;

/** The hint of a legacy secret. */
export function legacyHint(secret: string): string {
  return `${secret.slice(0, 4)}…${secret.slice(-4)}`;
}

/** Why a string cannot be a legacy secret, or undefined when it can. */
export function legacySecretProblem(secret: string): string | undefined {
  if (secret.length < LEGACY_MIN_LENGTH || secret.length > LEGACY_MAX_LENGTH) {
    return `must be ${LEGACY_MIN_LENGTH} to ${LEGACY_MAX_LENGTH} characters long, got ${secret.length}`;
  }
  if (!PRINTABLE.test(secret)) return "must be printable ASCII without spaces";
  return undefined;
}
