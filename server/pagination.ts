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

/** Decodes a page token made by encodePageToken with the given keys; undefined for "". */
export function decodePageToken<K extends string>(token: string, keys: readonly K[]): Record<K, string> | undefined {
  if (token === "") return undefined;
  try {
    const value = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as Record<string, unknown>;
    if (keys.every((k) => typeof value[k] === "string")) return value as Record<K, string>;
  } catch {
    // fall through to the error below
  }
  throw invalidPageToken();
}

/** The error for a page token that was not made by this server. */
export function invalidPageToken(): InvalidArgumentError {
  return new InvalidArgumentError([
    { field: "page_token", description: "is not a token from a previous response; omit it to start from the first page" },
  ]);
}
