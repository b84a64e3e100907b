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

/** An etag did not match: someone changed the resource since the caller read it. */
export class StaleEtagError extends DomainError {
  readonly code = Code.Aborted;
}

/** The server is at capacity for this work right now; the caller should retry shortly. */
export class BusyError extends DomainError {
  readonly code = Code.ResourceExhausted;
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
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}
