import argon2 from "argon2";
import { describe, expect, it } from "vitest";
import { HIGH_ENTROPY_ARGON2, loadConfig, OWASP_ARGON2 } from "../server/config.js";
import { createHasher } from "../server/hashing.js";

describe("hashing", () => {
  it("defaults to argon2id at a high-entropy cost for keys and tokens, and OWASP's minimum for legacy keys", async () => {
    const config = loadConfig({});
    expect(config.argon2).toEqual({ memoryCost: 8, timeCost: 1, parallelism: 1 });
    expect(config.argon2).toEqual(HIGH_ENTROPY_ARGON2);
    // The PHC format's order (m, t, p): what libargon2-based verifiers elsewhere accept.
    expect(await createHasher(config.argon2).hash("ak_example")).toMatch(/^\$argon2id\$v=19\$m=8,t=1,p=1\$/);
    expect(config.legacyArgon2).toEqual({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
    expect(await createHasher(config.legacyArgon2).hash("legacy-example")).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it("takes each kind's cost from its own variables", () => {
    const config = loadConfig({ APIKEYS_ARGON2_MEMORY_KIB: "4096", APIKEYS_LEGACY_ARGON2_ITERATIONS: "3" });
    expect(config.argon2).toEqual({ memoryCost: 4096, timeCost: 1, parallelism: 1 });
    expect(config.legacyArgon2).toEqual({ memoryCost: 19456, timeCost: 3, parallelism: 1 });
    expect(() => loadConfig({ APIKEYS_LEGACY_ARGON2_MEMORY_KIB: "10" })).toThrow(/APIKEYS_LEGACY_ARGON2_MEMORY_KIB must be an integer from 1024/);
  });

  it("lets keys go down to argon2's floor of 8 KiB per lane, and no further", async () => {
    expect(loadConfig({ APIKEYS_ARGON2_MEMORY_KIB: "8" }).argon2.memoryCost).toBe(8);
    expect(() => loadConfig({ APIKEYS_ARGON2_MEMORY_KIB: "4" })).toThrow(/APIKEYS_ARGON2_MEMORY_KIB must be an integer from 8 /);
    expect(() => loadConfig({ APIKEYS_ARGON2_MEMORY_KIB: "8", APIKEYS_ARGON2_PARALLELISM: "2" })).toThrow(/APIKEYS_ARGON2_MEMORY_KIB must be an integer from 16 /);
    const hasher = createHasher(loadConfig({ APIKEYS_ARGON2_MEMORY_KIB: "16", APIKEYS_ARGON2_PARALLELISM: "2" }).argon2);
    expect(await hasher.verify(await hasher.hash("ak_example"), "ak_example")).toBe(true);
  });

  it("marks a key hash made at the former default (1 MiB) for an upgrade to the current one", async () => {
    const former = await argon2.hash("ak_example", { type: argon2.argon2id, memoryCost: 1024, timeCost: 1, parallelism: 1 });
    const hasher = createHasher(loadConfig({}).argon2);
    expect(await hasher.verify(former, "ak_example")).toBe(true);
    expect(hasher.needsRehash(former)).toBe(true);
  });

  it("verifies the right secret only and treats a corrupt hash as a mismatch", async () => {
    const hasher = createHasher(OWASP_ARGON2);
    const hash = await hasher.hash("right");
    expect(await hasher.verify(hash, "right")).toBe(true);
    expect(await hasher.verify(hash, "wrong")).toBe(false);
    expect(await hasher.verify("$argon2id$garbage", "right")).toBe(false);
  });

  it("recognises a hash made with older parameters", async () => {
    const old = await argon2.hash("secret", { type: argon2.argon2id, memoryCost: 4096, timeCost: 1, parallelism: 1 });
    const hasher = createHasher(OWASP_ARGON2);
    expect(hasher.needsRehash(old)).toBe(true);
    expect(hasher.needsRehash(await hasher.hash("secret"))).toBe(false);
  });
});
