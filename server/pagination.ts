// Keyset pagination: page tokens are opaque base64url JSON cursors; a bad one is InvalidArgument.
import { InvalidArgumentError } from "./errors.js";

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/** The page size to use, or InvalidArgument for a negative or too large one. */
export function pageSize(requested: number): number {
  if (requested === 0) return DEFAULT_PAGE_SIZE;
  if (requested < 0 || requested > MAX_PAGE_SIZE) {
    throw new InvalidArgumentError([
      { field: "page_size", description: `must be from 1 to ${MAX_PAGE_SIZE}, or 0 for the default of ${DEFAULT_PAGE_SIZE}` },
    ]);
  }
  return requested;
}

/** Encodes a cursor as a page token. */
export function encodePageToken(cursor: Record<string, string>): string {
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

/**
 * Decodes a page token made by encodePageToken whose every field passes its check; undefined for
 * "". Each cursor value reaches a query, so a forged one must fail here, not in Postgres.
 */
export function decodePageToken<K extends string>(token: string, fields: Record<K, (value: string) => boolean>): Record<K, string> | undefined {
  if (token === "") return undefined;
  try {
    const value = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as Record<string, unknown>;
    const valid = (Object.entries(fields) as Array<[K, (value: string) => boolean]>).every(([k, check]) => typeof value[k] === "string" && check(value[k]));
    if (valid) return value as Record<K, string>;
  } catch {
    // fall through to the error below
  }
  throw invalidPageToken();
}

const MAX_BIGINT = 9_223_372_036_854_775_807n;

/** A Postgres bigint (a bigserial id) written in decimal. */
export function isBigintText(value: string): boolean {
  return /^\d{1,19}$/.test(value) && BigInt(value) <= MAX_BIGINT;
}

// How Postgres prints a timestamptz as text; anything else is forged.
const POSTGRES_TIMESTAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/;

/** A timestamptz as Postgres prints it (it may still name an impossible time, such as month 13). */
export function isPostgresTimestampText(value: string): boolean {
  return POSTGRES_TIMESTAMP.test(value);
}

/** The error for a page token that was not made by this server. */
export function invalidPageToken(): InvalidArgumentError {
  return new InvalidArgumentError([
    { field: "page_token", description: "is not a token from a previous response; omit it to start from the first page" },
  ]);
}
