import { randomBase62 } from "../contract/key-format.js";

/** A new public identifier such as "ws_3kTq9ZbW1xYp": a type prefix and 12 random base62. */
export function newId(prefix: "ws" | "pr" | "lk"): string {
  return `${prefix}_${randomBase62(12)}`;
}
