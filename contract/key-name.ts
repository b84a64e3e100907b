// The key-name rule shared by the server, the Terraform provider and the CDKTF library: 1 to 100
// characters (code points) after trimming, without control characters, which break logs and UIs.

/** Longest key name, in characters (Unicode code points) after trimming. */
export const NAME_MAX = 100;

// Control characters (C0, DEL, C1) and line/paragraph separators.
const CONTROL = /[\p{Cc}\u2028\u2029]/u;

/** Why the (already trimmed) `name` is not a valid key name, such as `must not be empty, …`; undefined when it is valid. */
export function describeNameProblem(name: string): string | undefined {
  const length = [...name].length;
  if (length === 0) return 'must not be empty, for example "Snowflake production export"';
  if (length > NAME_MAX) return `must be at most ${NAME_MAX} characters, got ${length}`;
  if (CONTROL.test(name)) return "must not contain control characters such as newlines or tabs";
  return undefined;
}
