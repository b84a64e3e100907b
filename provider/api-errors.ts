// Server errors as Terraform diagnostics: the Connect code decides what the user should check,
// and field violations name the exact argument to fix. Server messages never carry secrets.
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../contract/gen/google/rpc/error_details_pb.js";
import { DiagnosticsError, type Diagnostic } from "./protocol/diagnostics.js";

const ADVICE: Partial<Record<Code, { summary: string; detail: string }>> = {
  [Code.Unavailable]: {
    summary: "Cannot reach the apikeys server",
    detail: "Check the provider's `endpoint` (or APIKEYS_ENDPOINT): it must be the server's HTTP port, such as http://127.0.0.1:8080, and the server must be running.",
  },
  [Code.Unauthenticated]: {
    summary: "The apikeys server refused the token",
    detail: "Check the provider's `token` (or APIKEYS_TOKEN): it must be a current token of a workspace owner or admin. Mint one with `apikeys members add` or `apikeys tokens add`.",
  },
  [Code.PermissionDenied]: {
    summary: "The token may not manage API keys",
    detail: "Only workspace owners and admins manage keys. Use a token of an owner or admin (`apikeys members add --role admin`).",
  },
  [Code.NotFound]: {
    summary: "API key not found",
    detail: "No key with this id exists in the token's workspace. Check the id (the 12 characters after the prefix in the key's hint).",
  },
  [Code.AlreadyExists]: {
    summary: "The key material's id is already taken",
    detail: "Run the apply again: apikeys_key_material mints a fresh id on every run.",
  },
  [Code.Aborted]: {
    summary: "The key changed while Terraform was working on it",
    detail: "Someone else changed the key at the same time. Run `terraform apply` again.",
  },
  [Code.ResourceExhausted]: {
    summary: "The apikeys server is busy",
    detail: "Run the command again in a moment.",
  },
};

/** A diagnostic for a failed call; `action` says what the provider was doing, such as "create the key". */
export function apiDiagnostic(e: unknown, action: string): Diagnostic {
  const err = ConnectError.from(e);
  const violations = err.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations);
  if (err.code === Code.InvalidArgument) {
    const list = violations.map((v) => `${v.field}: ${v.description}`).join("; ");
    return { severity: "error", summary: `The apikeys server refused to ${action}`, detail: `${list || err.rawMessage}. Fix the configuration and run the command again.` };
  }
  const advice = ADVICE[err.code];
  const cause = `The server answered ${Code[err.code]}: ${err.rawMessage}.`;
  return advice
    ? { severity: "error", summary: advice.summary, detail: `Could not ${action}. ${cause} ${advice.detail}` }
    : { severity: "error", summary: `Could not ${action}`, detail: `${cause} Run the command again; if it keeps failing, check the server's log.` };
}

/** Runs a call and turns its failure into diagnostics. */
export async function call<T>(action: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    throw new DiagnosticsError([apiDiagnostic(e, action)]);
  }
}

/** True when the call failed with NotFound. */
export function isNotFound(e: unknown): boolean {
  return e instanceof ConnectError && e.code === Code.NotFound;
}
