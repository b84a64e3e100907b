// Secrets are stored only as argon2id PHC strings. The parameters live in each hash, so a hash
// made with older (cheaper) parameters is recognised and replaced after a successful check.
import argon2 from "argon2";
import type { Argon2Params } from "./config.js";

export interface Hasher {
  hash(secret: string): Promise<string>;
  verify(hash: string, secret: string): Promise<boolean>;
  /** True when `hash` was made with parameters other than the configured ones. */
  needsRehash(hash: string): boolean;
}

/** A hasher using argon2id with `params`. */
export function createHasher(params: Argon2Params): Hasher {
  const options = { type: argon2.argon2id, ...params };
  return {
    hash: (secret) => argon2.hash(secret, options),
    verify: async (hash, secret) => {
      try {
        return await argon2.verify(hash, secret);
      } catch {
        // A corrupt hash never verifies; it must not turn into an internal error for the caller.
        return false;
      }
    },
    needsRehash: (hash) => argon2.needsRehash(hash, options),
  };
}
