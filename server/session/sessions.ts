// Starting and ending browser sessions: what SignIn and SignOut do, and what another way of
// signing in (OpenID Connect, on a plain HTTP route) calls to start a session once it knows the
// principal. A session is a principal token of its own kind (prefix `aks`, argon2id-hashed like
// every token, so the database never holds the cookie's secret), with an expiry.
import { mintToken, parseToken } from "../../contract/key-format.js";
import type { Session } from "../../contract/gen/apikeys/v1/session_service_pb.js";
import { SESSION_TOKEN_PREFIX } from "../config.js";
import type { Db } from "../db/database.js";
import { PermissionDeniedError } from "../errors.js";
import type { Hasher } from "../hashing.js";
import type { Caller, CallerSession } from "../principal/caller.js";
import type { PrincipalKind, SessionMethod } from "../principal/principal.table.js";
import { principalSubject, recordChange } from "../replica/change.repository.js";
import { csrfTokenOf } from "./csrf.js";
import { callerToSession } from "./session.mapper.js";
import { clearedSessionCookie, sessionCookie } from "./session-cookie.js";
import { deleteEndedSessions, endSessionsBeyond, insertSession, lockPrincipalSessions, revokeSession } from "./session.repository.js";

/** A session just started. */
export interface StartedSession {
  /** The Set-Cookie header value that hands the session to the browser; it holds the session's secret. */
  readonly setCookie: string;
  /** The session as SignIn answers it (with its CSRF token). */
  readonly session: Session;
}

export interface Sessions {
  /**
   * Starts a session for principal `principalId`, signed in by `method` (with principal token
   * `signedInWith`, whose revocation then ends the session, or null). Services may not sign in.
   * Beyond MAX_SESSIONS_PER_PRINCIPAL, the principal's oldest sessions end.
   */
  start(s: { principalId: string; method: SessionMethod; signedInWith: string | null }): Promise<StartedSession>;
  /** Ends `session` of principal `principalId` on the server; every replica refuses its cookie once this resolves. */
  end(principalId: string, session: CallerSession): Promise<void>;
  /** The Session message describing `caller`. */
  describe(caller: Caller): Promise<Session>;
  /** The Set-Cookie header value that makes the browser drop the session cookie. */
  readonly clearCookie: string;
}

export interface SessionsDeps {
  readonly db: Db;
  readonly hasher: Hasher;
  /** How long a session lasts from its start. */
  readonly ttlMs: number;
  /** Whether the server runs with TLS: the cookie is then Secure. */
  readonly secure: boolean;
  /** Waits until every live replica has evicted a recorded change (bounded; see server/replica). */
  readonly awaitConfirmation: (changeId: string, committed: string) => Promise<void>;
}

/**
 * Active sessions a principal may hold; a sign-in beyond it ends the oldest. Without a bound, a
 * token's holder signing in in a loop would fill the table for a whole session lifetime.
 */
export const MAX_SESSIONS_PER_PRINCIPAL = 100;

/** Refuses principals that may not hold a browser session. */
export function requireBrowserPrincipal(kind: PrincipalKind): void {
  if (kind === "service") {
    throw new PermissionDeniedError(
      "a service principal cannot sign in to the API keys page; sign in with a workspace member's or support staff's token (services call the API with their token in the authorization header)",
    );
  }
}

/** Builds the session operations. */
export function createSessions(deps: SessionsDeps): Sessions {
  const { db } = deps;
  const workspaceName = async (workspaceId: string | null) =>
    workspaceId ? ((await db.selectFrom("workspaces").select("name").where("id", "=", workspaceId).executeTakeFirst())?.name ?? "") : "";

  return {
    async start({ principalId, method, signedInWith }) {
      const principal = await db.selectFrom("principals").selectAll().where("id", "=", principalId).executeTakeFirst();
      if (!principal) throw new Error(`no principal "${principalId}"`);
      requireBrowserPrincipal(principal.kind);
      const token = mintToken(SESSION_TOKEN_PREFIX);
      const id = parseToken(token, SESSION_TOKEN_PREFIX)!.id;
      const hash = await deps.hasher.hash(token);
      const expiresAt = new Date(Date.now() + deps.ttlMs);
      const change = await db.transaction().execute(async (tx) => {
        await lockPrincipalSessions(tx, principalId);
        await deleteEndedSessions(tx, principalId);
        await insertSession(tx, { id, principal_id: principalId, hash, session_method: method, expires_at: expiresAt, signed_in_with: signedInWith });
        const ended = await endSessionsBeyond(tx, principalId, MAX_SESSIONS_PER_PRINCIPAL);
        return ended > 0 ? recordChange(tx, [principalSubject(principalId)]) : undefined;
      });
      // A replica that does not confirm turns its caches off and so refuses the ended sessions
      // itself: the new session can be handed out either way.
      if (change) await deps.awaitConfirmation(change, "Signed in").catch(() => undefined);
      const caller: Caller = {
        id: principal.id,
        name: principal.name,
        kind: principal.kind,
        workspaceId: principal.workspace_id,
        role: principal.role,
        session: { id, expiresAt, method, csrfToken: csrfTokenOf(token) },
      };
      return {
        setCookie: sessionCookie(token, deps.ttlMs / 1000, deps.secure),
        session: callerToSession(caller, await workspaceName(principal.workspace_id)),
      };
    },

    async end(principalId, session) {
      const change = await db.transaction().execute(async (tx) => {
        await revokeSession(tx, session.id);
        return recordChange(tx, [principalSubject(principalId)]);
      });
      await deps.awaitConfirmation(change, "You are signed out");
    },

    describe: async (caller) => callerToSession(caller, await workspaceName(caller.workspaceId)),

    clearCookie: clearedSessionCookie(deps.secure),
  };
}
