// A call's deadline, as methods see it: work whose deadline has passed is work whose result nobody
// receives, so it is refused (by the boundary, before the method) or rolled back (by the method).
import type { HandlerContext } from "@connectrpc/connect";
import { DeadlineExceededError } from "./errors.js";

/** The deadline has passed, or less than a millisecond of it is left: too little to do anything in. */
export function deadlinePassed(ctx: HandlerContext): boolean {
  const left = ctx.timeoutMs();
  return left !== undefined && left < 1;
}

/**
 * Called last inside a write's transaction: a call whose deadline has passed meanwhile rolls back
 * instead of committing a change its caller is told failed (a new key whose secret nobody sees).
 */
export function rollBackPastDeadline(ctx: HandlerContext): void {
  if (deadlinePassed(ctx)) throw new DeadlineExceededError("the deadline passed before the change was committed; nothing was changed");
}
