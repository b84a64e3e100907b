// Turns API errors into sentences a person can act on: never a raw code or a stack trace.
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../../../contract/gen/google/rpc/error_details_pb.js";

/** What the page shows for a failed call. */
export interface ErrorView {
  /** One or two sentences for the person using the page. */
  readonly message: string;
  /** Problems with single fields, keyed by field name ("name", "scopes", "grace_period"). */
  readonly fields: Readonly<Record<string, string>>;
  /** True when trying again may work (lost connection, server busy). */
  readonly retryable: boolean;
  /** True when the session ended and the person must sign in again. */
  readonly signedOut: boolean;
  /** True when someone else changed the resource meanwhile (stale etag). */
  readonly stale: boolean;
}

const FIELD_LABELS: Readonly<Record<string, string>> = {
  name: "Name",
  scopes: "Scopes",
  access: "Access",
  grace_period: "Grace period",
  workspace_id: "Workspace ID",
  token: "Token",
};

/** Describes any error thrown by a call (ConnectError, a network failure, anything else). */
export function describeError(err: unknown): ErrorView {
  const e = ConnectError.from(err);
  const fields: Record<string, string> = {};
  for (const detail of e.findDetails(BadRequestSchema)) {
    for (const v of detail.fieldViolations) {
      // "api_key.name" (UpdateApiKey) and "scopes[1]" name the same form fields as "name" and "scopes".
      const field = v.field.replace(/^api_key\./, "").replace(/\[\d+\]$/, "");
      const label = FIELD_LABELS[field] ?? field;
      fields[field] = fields[field] ? `${fields[field]}; ${v.description}` : `${label} ${v.description}.`;
    }
  }
  const base = { fields, retryable: false, signedOut: false, stale: false };
  switch (e.code) {
    case Code.InvalidArgument:
      return { ...base, message: Object.keys(fields).length > 0 ? "Some fields need attention." : sentence(e.rawMessage) };
    case Code.Unauthenticated:
      return { ...base, signedOut: true, message: "Your session has ended. Sign in again to continue." };
    case Code.PermissionDenied:
      return { ...base, message: sentence(e.rawMessage) || "You do not have permission to do this." };
    case Code.NotFound:
      return { ...base, message: "This item no longer exists. It may have been deleted by someone else; reload to see the current list." };
    case Code.Aborted:
    case Code.FailedPrecondition:
      return { ...base, stale: true, message: "Someone else changed this key while you were editing it. The form now shows its current values: review them and save again." };
    case Code.AlreadyExists:
      return { ...base, message: sentence(e.rawMessage) };
    case Code.ResourceExhausted:
      return { ...base, retryable: true, message: "The server is busy right now. Wait a moment and try again." };
    case Code.Unavailable:
    case Code.DeadlineExceeded:
    case Code.Canceled:
    case Code.Unknown:
      return { ...base, retryable: true, message: "Could not reach the server. Check your connection and try again." };
    default:
      return { ...base, retryable: true, message: "Something went wrong on our side. Try again; if it keeps happening, contact support." };
  }
}

function sentence(text: string): string {
  const t = text.trim();
  if (t === "") return "";
  const s = t[0]!.toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}
