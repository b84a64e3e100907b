// HMAC-SHA256 of a token under a key that lives only in this process: what the caches are keyed
// by, so that they never hold a secret. It runs twice on every verification, so it is built from
// two one-shot crypto.hash calls (RFC 2104: H(K⊕opad ‖ H(K⊕ipad ‖ m))) instead of createHmac,
// whose native object per call cost about twice as much and loaded the garbage collector.
// The key's bytes are below 0x80, so both padded keys are ASCII and can be prefixed to the token
// as a string without changing their bytes; that leaves 448 random bits of key.
import { hash, randomBytes } from "node:crypto";

/** A fresh random key, and the HMAC-SHA256 of a token under it as a 32-character binary (latin1) string. */
export function createTokenHmac(key: Buffer = Buffer.from(randomBytes(64).map((b) => b & 0x7f))): (token: string) => string {
  if (key.length !== 64 || key.some((b) => b >= 0x80)) throw new Error("the key must be 64 bytes below 0x80");
  const innerPad = Buffer.from(key.map((b) => b ^ 0x36)).toString("latin1");
  // The outer message: the outer padded key, then the inner digest (written per call). Calls never
  // interleave (no await), so one buffer serves them all.
  const outer = Buffer.alloc(64 + 32);
  Buffer.from(key.map((b) => b ^ 0x5c)).copy(outer);
  return (token) => {
    outer.write(hash("sha256", innerPad + token, "binary"), 64, "latin1");
    return hash("sha256", outer, "binary");
  };
}
