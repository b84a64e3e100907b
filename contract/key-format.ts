// The token format shared by the server (which parses and stores hashes) and the Terraform
// provider (which mints key material locally so secrets never enter Terraform state).
//
//   <prefix>_<id><secret><checksum>
//   id: 12 base62 (public), secret: 32 base62 (CSPRNG), checksum: CRC32 of all before it, 6 base62
import { randomInt } from "node:crypto";
import { crc32 } from "node:zlib";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
export const ID_LENGTH = 12;
export const SECRET_LENGTH = 32;
export const CHECKSUM_LENGTH = 6;
const BODY_LENGTH = ID_LENGTH + SECRET_LENGTH + CHECKSUM_LENGTH;
const PREFIX_PATTERN = /^[a-z][a-z0-9]{1,15}$/;
const BASE62_BODY = new RegExp(`^[0-9A-Za-z]{${BODY_LENGTH}}$`);

/** A token split into its parts; `secret` is the part that must never be logged or stored. */
export interface ParsedToken {
  readonly prefix: string;
  readonly id: string;
  readonly secret: string;
}

/** Why a string is not a token of the expected prefix, for error messages. */
export type TokenProblem = "prefix" | "length" | "characters" | "checksum";

/** True when `prefix` is usable: 2–16 lowercase letters and digits, starting with a letter. */
export function isValidPrefix(prefix: string): boolean {
  return PREFIX_PATTERN.test(prefix);
}

/** Random base62 string from the CSPRNG; randomInt rejects modulo bias. */
export function randomBase62(length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += BASE62[randomInt(62)];
  return out;
}

/** CRC32 of `text` as 6 base62 characters (62^6 > 2^32, left-padded with "0"). */
export function checksum(text: string): string {
  let value = crc32(text);
  let out = "";
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** Mints a new token; `id` may be given to rotate a key while keeping its id. */
export function mintToken(prefix: string, id: string = randomBase62(ID_LENGTH)): string {
  if (!isValidPrefix(prefix)) throw new Error(`invalid key prefix "${prefix}"`);
  const head = `${prefix}_${id}${randomBase62(SECRET_LENGTH)}`;
  return head + checksum(head);
}

/** Checks the token's shape and checksum without any I/O; returns what is wrong, or the parts. */
export function inspectToken(token: string, prefix: string): ParsedToken | TokenProblem {
  if (!token.startsWith(`${prefix}_`)) return "prefix";
  const body = token.slice(prefix.length + 1);
  if (body.length !== BODY_LENGTH) return "length";
  if (!BASE62_BODY.test(body)) return "characters";
  const sumAt = token.length - CHECKSUM_LENGTH;
  if (checksum(token.slice(0, sumAt)) !== token.slice(sumAt)) return "checksum";
  return { prefix, id: body.slice(0, ID_LENGTH), secret: body.slice(ID_LENGTH, ID_LENGTH + SECRET_LENGTH) };
}

/** Parses a token, or returns undefined when it is malformed. */
export function parseToken(token: string, prefix: string): ParsedToken | undefined {
  const result = inspectToken(token, prefix);
  return typeof result === "string" ? undefined : result;
}

/** A hint that identifies a token without revealing it: prefix, id and the last 4 characters. */
export function tokenHint(token: string, prefix: string): string {
  return `${prefix}_${token.slice(prefix.length + 1, prefix.length + 1 + ID_LENGTH)}…${token.slice(-4)}`;
}

/** The regular expression secret scanners use to find tokens of a prefix. */
export function tokenPattern(prefix: string): RegExp {
  return new RegExp(`\\b${prefix}_[0-9A-Za-z]{${BODY_LENGTH}}\\b`, "g");
}

/** Human explanation of a token problem, for InvalidArgument messages. */
export function describeTokenProblem(problem: TokenProblem, prefix: string): string {
  switch (problem) {
    case "prefix":
      return `must start with "${prefix}_"`;
    case "length":
      return `must have exactly ${BODY_LENGTH} characters after "${prefix}_"`;
    case "characters":
      return "may contain only the base62 characters 0-9, A-Z and a-z after the prefix";
    case "checksum":
      return "has a wrong checksum (mistyped or not minted in the key format)";
  }
}
