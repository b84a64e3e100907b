// Domain code throws these small errors; `toConnectError` is the one place that turns them into
// Connect errors with a code and a public message. Anything else is an internal error whose text
// never reaches the caller.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../contract/gen/google/rpc/error_details_pb.js";

export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** Base of every error whose message is safe to show the caller. */
export abstract class DomainError extends Error {
  abstract readonly code: Code;
}

/** The request is wrong in ways the caller can fix; lists each field to fix. */
export class InvalidArgumentError extends DomainError {
  readonly code = Code.InvalidArgument;
  constructor(readonly violations: readonly FieldViolation[]) {
    super(violations.map((v) => `${v.field}: ${v.description}`).join("; "));
  }
  /** Throws when `violations` is not empty. */
  static throwIfAny(violations: readonly FieldViolation[]): void {
    if (violations.length > 0) throw new InvalidArgumentError(violations);
  }
}

/** No credential, or one that is malformed, unknown or revoked. */
export class UnauthenticatedError extends DomainError {
  readonly code = Code.Unauthenticated;
}

/** The caller is known but its role or kind may not make this call. */
export class PermissionDeniedError extends DomainError {
  readonly code = Code.PermissionDenied;
}

/** Absent, deleted, or another workspace's: the caller cannot tell which. */
export class NotFoundError extends DomainError {
  readonly code = Code.NotFound;
}

/** A client-chosen identifier (key material) is taken. */
export class AlreadyExistsError extends DomainError {
  readonly code = Code.AlreadyExists;
}

/** The call cannot be made in the caller's present state (such as signing out without a session). */
export class FailedPreconditionError extends DomainError {
  readonly code = Code.FailedPrecondition;
}

/** An etag did not match: someone changed the resource since the caller read it. */
export class StaleEtagError extends DomainError {
  readonly code = Code.Aborted;
}

/** The server is at capacity for this work right now; the caller should retry shortly. */
export class BusyError extends DomainError {
  readonly code = Code.ResourceExhausted;
}

/** The call's deadline passed before its work was done; the work was not done (or was rolled back). */
export class DeadlineExceededError extends DomainError {
  readonly code = Code.DeadlineExceeded;
}

/**
 * A change committed, but whether every replica has applied it could not be established in time
 * (see Replica.awaitConfirmation): the caller must know the change happened and is not to be
 * repeated, and that a replica may answer from its cache as before for a short while.
 */
export class UnconfirmedChangeError extends DomainError {
  readonly code = Code.Unavailable;
}

/**
 * The connection broke while COMMIT was in flight: the change may have been made or not, and only
 * reading it back tells. A retry without that check could make it twice (a second key, whose
 * first secret is lost; a second rotation).
 */
export class CommitInDoubtError extends DomainError {
  readonly code = Code.Unavailable;
}

/** What a caller is told when COMMIT's connection broke (see CommitInDoubtError). */
export const COMMIT_IN_DOUBT =
  "the connection to the database broke while committing: the change may have been made. " +
  "Check (GetApiKey, ListApiKeys) before retrying it";

/** What a caller is told when the database cannot be reached. */
export const DATABASE_UNREACHABLE = "the database is unreachable; retry shortly";

// Connection failures: Node's socket errors, SQLSTATE class 08 (connection exception) and 57P01-03
// (terminated by an administrator or a crash, or not accepting connections yet: a restart), and
// too many connections; pg's and pg-pool's own errors for a connection that broke or never came.
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EPIPE",
  "57P01", "57P02", "57P03", "53300",
]);
const UNREACHABLE_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Postgres connection has been discarded)/;

/** Whether `err` (or an error it wraps) means that the database cannot be reached right now. */
export function isDatabaseUnreachable(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (UNREACHABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
    if (UNREACHABLE_MESSAGES.test(e.message)) return true;
    // Connecting to a name with several addresses fails with one error per address.
    if (e instanceof AggregateError && e.errors.some(isDatabaseUnreachable)) return true;
  }
  return false;
}

/** Maps any thrown value to the ConnectError the caller sees; `cause` keeps the original. */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof InvalidArgumentError) {
    const detail = {
      desc: BadRequestSchema,
      value: create(BadRequestSchema, {
        fieldViolations: err.violations.map((v) => ({ field: v.field, description: v.description })),
      }),
    };
    return new ConnectError(err.message, err.code, undefined, [detail], err);
  }
  if (err instanceof DomainError) return new ConnectError(err.message, err.code, undefined, undefined, err);
  if (isDatabaseUnreachable(err)) return new ConnectError(DATABASE_UNREACHABLE, Code.Unavailable, undefined, undefined, err);
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}
