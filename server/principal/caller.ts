// Who is calling, and what they may do. The caller travels in a typed context value, set once per
// request by the RPC boundary.
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { PermissionDeniedError } from "../errors.js";
import type { PrincipalKind, Role, SessionMethod } from "./principal.table.js";

/** An authenticated principal. */
export interface Caller {
  readonly id: string;
  readonly name: string;
  readonly kind: PrincipalKind;
  /** Members: their workspace. Services: the one workspace they may verify for, or null for all. */
  readonly workspaceId: string | null;
  readonly role: Role | null;
  /** Set when the call was authenticated by a browser session's cookie; undefined for a bearer token. */
  readonly session?: CallerSession;
}

/** The browser session a call came with. */
export interface CallerSession {
  /** The session's row id (the public part of its token). */
  readonly id: string;
  readonly expiresAt: Date;
  readonly method: SessionMethod;
  /** What the call's `x-csrf-token` header must be when the method changes anything. */
  readonly csrfToken: string;
}

/** Where the RPC boundary puts the authenticated caller for the method to read. */
export const callerKey = createContextKey<Caller | undefined>(undefined, { description: "caller" });

/** The caller the boundary authenticated; every RPC is authenticated before it runs. */
export function callerOf(ctx: HandlerContext): Caller {
  const caller = ctx.values.get(callerKey);
  if (!caller) throw new Error("RPC ran without an authenticated caller");
  return caller;
}

/** An owner or admin, with the workspace whose keys they manage. */
export function requireKeyManager(caller: Caller): Caller & { workspaceId: string } {
  if (caller.kind === "member" && (caller.role === "owner" || caller.role === "admin") && caller.workspaceId) {
    return caller as Caller & { workspaceId: string };
  }
  throw new PermissionDeniedError(
    caller.kind === "member"
      ? "only workspace owners and admins can manage API keys; ask an owner to change your role"
      : `a ${caller.kind} principal cannot manage API keys; use a workspace owner's or admin's token`,
  );
}

/** Services and workspace owners/admins may verify; returns the workspace they are limited to. */
export function requireVerifier(caller: Caller): { workspaceId: string | null } {
  if (caller.kind === "service") return { workspaceId: caller.workspaceId };
  return { workspaceId: requireKeyManager(caller).workspaceId };
}

/** Only support staff reach the support service. */
export function requireSupport(caller: Caller): Caller {
  if (caller.kind !== "support") {
    throw new PermissionDeniedError("only support staff can use the support service");
  }
  return caller;
}
