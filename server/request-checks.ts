// Rules every request field of a kind obeys, whichever method carries it, checked once at the RPC
// boundary (rpc-boundary.ts) before any method runs: identifiers (a field named `id` or `..._id`)
// and google.protobuf.Duration values. A method then sees only well-formed ones; without this, a
// NUL byte in an id reached Postgres, which refused it as an internal error, and a Duration whose
// nanos were out of range or of the other sign than its seconds was taken as some other length.
import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { InvalidArgumentError, type FieldViolation } from "./errors.js";

/** What an identifier may look like: every id we make is letters, digits and "_" (such as "ws_3kTq9ZbW1xYp"). */
const IDENTIFIER = /^[A-Za-z0-9_-]{1,64}$/;
const IDENTIFIER_RULE = 'must be an id such as "ws_3kTq9ZbW1xYp" or "3kTq9ZbW1xYp": 1 to 64 letters, digits, "_" or "-"';
// google/protobuf/duration.proto: about ±10,000 years, and nanos of the sign of seconds.
const MAX_DURATION_SECONDS = 315_576_000_000n;
const MAX_NANOS = 999_999_999;

/** True for a well-formed identifier (never for ""). */
export function isIdentifier(value: string): boolean {
  return IDENTIFIER.test(value);
}

type Check = (value: unknown, field: string, violations: FieldViolation[]) => void;

interface FieldCheck {
  /** The field's path in the request, as local (camelCase) names. */
  readonly path: readonly string[];
  /** The path as the API names it in field violations (proto names: "api_key.id"). */
  readonly field: string;
  readonly check: Check;
}

/**
 * The checker of requests of type `desc`, made once per method; undefined when the type holds no
 * field these rules cover (VerifyApiKey's request, the hot path, pays nothing).
 */
export function requestChecker(desc: DescMessage): ((request: unknown) => void) | undefined {
  const checks = fieldChecks(desc, [], [], new Set());
  if (checks.length === 0) return undefined;
  return (request) => {
    const violations: FieldViolation[] = [];
    for (const { path, field, check } of checks) {
      let value: unknown = request;
      for (const name of path) value = value == null ? undefined : (value as Record<string, unknown>)[name];
      if (value != null) check(value, field, violations);
    }
    InvalidArgumentError.throwIfAny(violations);
  };
}

// Singular fields only, through singular message fields: no request of this API carries an id or
// a Duration in a list or a map.
function fieldChecks(desc: DescMessage, path: string[], names: string[], visiting: Set<DescMessage>): FieldCheck[] {
  if (visiting.has(desc)) return [];
  visiting.add(desc);
  const checks: FieldCheck[] = [];
  for (const field of desc.fields) {
    const at = { path: [...path, field.localName], field: [...names, field.name].join(".") };
    const check = checkOf(field);
    if (check) checks.push({ ...at, check });
    else if (field.fieldKind === "message" && field.message.file.name.startsWith("apikeys/")) {
      checks.push(...fieldChecks(field.message, at.path, at.field.split("."), visiting));
    }
  }
  visiting.delete(desc);
  return checks;
}

function checkOf(field: DescField): Check | undefined {
  if (field.fieldKind === "scalar" && field.scalar === ScalarType.STRING && (field.name === "id" || field.name.endsWith("_id"))) {
    return checkIdentifier;
  }
  if (field.fieldKind === "message" && field.message.typeName === "google.protobuf.Duration") return checkDuration;
  return undefined;
}

function checkIdentifier(value: unknown, field: string, violations: FieldViolation[]): void {
  // "" is an unset field, which each method judges (most require it).
  if (value !== "" && !isIdentifier(value as string)) violations.push({ field, description: IDENTIFIER_RULE });
}

function checkDuration(value: unknown, field: string, violations: FieldViolation[]): void {
  const { seconds, nanos } = value as { seconds: bigint; nanos: number };
  const problem =
    seconds > MAX_DURATION_SECONDS || seconds < -MAX_DURATION_SECONDS
      ? `seconds must be from -${MAX_DURATION_SECONDS} to ${MAX_DURATION_SECONDS}`
      : nanos > MAX_NANOS || nanos < -MAX_NANOS
        ? `nanos must be from -${MAX_NANOS} to ${MAX_NANOS}`
        : (seconds > 0n && nanos < 0) || (seconds < 0n && nanos > 0)
          ? "nanos must have the sign of seconds"
          : undefined;
  if (problem) violations.push({ field, description: `is not a valid google.protobuf.Duration: ${problem}` });
}
