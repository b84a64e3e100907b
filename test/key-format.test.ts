import { describe, expect, it } from "vitest";
import { checksum, inspectToken, mintToken, parseToken, tokenHint, tokenPattern } from "../contract/key-format.js";

describe("key format", () => {
  it("mints <prefix>_<12 id><32 secret><6 checksum> in base62", () => {
    const token = mintToken("ak");
    expect(token).toMatch(/^ak_[0-9A-Za-z]{50}$/);
    const parsed = parseToken(token, "ak");
    expect(parsed?.id).toHaveLength(12);
    expect(parsed?.secret).toHaveLength(32);
    expect(token.startsWith(`ak_${parsed?.id}${parsed?.secret}`)).toBe(true);
  });

  it("keeps a given id when rotating", () => {
    const id = "AbCdEfGhIjKl";
    expect(parseToken(mintToken("ak", id), "ak")?.id).toBe(id);
  });

  it("never mints the same secret twice in 10,000 tries", () => {
    const secrets = new Set(Array.from({ length: 10_000 }, () => parseToken(mintToken("ak"), "ak")!.secret));
    expect(secrets.size).toBe(10_000);
  });

  it.each([
    ["another prefix", (t: string) => t.replace(/^ak_/, "xk_"), "prefix"],
    ["one character short", (t: string) => t.slice(0, -1), "length"],
    ["a non-base62 character", (t: string) => `${t.slice(0, 10)}-${t.slice(11)}`, "characters"],
    ["one typo", (t: string) => `${t.slice(0, 20)}${t[20] === "a" ? "b" : "a"}${t.slice(21)}`, "checksum"],
    ["a swapped checksum", (t: string) => `${t.slice(0, -6)}000000`, "checksum"],
  ])("rejects a token with %s without any lookup", (_what, mutate, problem) => {
    expect(inspectToken(mutate(mintToken("ak")), "ak")).toBe(problem);
  });

  it("computes the checksum as CRC32 in 6 base62 characters", () => {
    // Expected values computed independently with Python's zlib.crc32 and base62 digits 0-9A-Za-z.
    expect(checksum("")).toBe("000000");
    expect(checksum("ak_")).toBe("3j66FI");
    expect(checksum("ak_AbCdEfGhIjKl0123456789abcdefghijABCDEFGHIJKL")).toBe("4A4c0z");
  });

  it("hints show the id and the last four characters only", () => {
    const token = mintToken("ak");
    const hint = tokenHint(token, "ak");
    expect(hint).toBe(`ak_${token.slice(3, 15)}…${token.slice(-4)}`);
    expect(hint).not.toContain(parseToken(token, "ak")!.secret);
  });

  it("the published pattern finds tokens in text and ignores others", () => {
    const token = mintToken("ak");
    const text = `config: KEY=${token}\nother=ak_short\n`;
    expect(text.match(tokenPattern("ak"))).toEqual([token]);
  });
});
