/** JSON text of any message (bigint timestamps included), for searching responses for secrets. */
export function textOf(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
}
