// Sessions are rows of principal_tokens with a session_method (see migration 0003-sessions).
import type { Db, Tx } from "../db/database.js";
import type { SessionMethod } from "../principal/principal.table.js";

/**
 * A session not signed out nor revoked, whose sign-in token (if any) is still active, with its
 * principal and hash; undefined if none. Expiry is the caller's to check, after the secret, so
 * that an expired session can be told apart from a wrong cookie.
 */
export async function findActiveSession(db: Db, sessionId: string) {
  return db
    .selectFrom("principal_tokens as t")
    .innerJoin("principals as p", "p.id", "t.principal_id")
    .leftJoin("principal_tokens as signer", "signer.id", "t.signed_in_with")
    .select(["t.hash", "t.expires_at", "t.session_method", "p.id", "p.kind", "p.workspace_id", "p.role", "p.name"])
    .where("t.id", "=", sessionId)
    .where("t.session_method", "is not", null)
    .where("t.revoked_at", "is", null)
    .where("signer.revoked_at", "is", null)
    .executeTakeFirst();
}

/** Inserts a session row. */
export async function insertSession(
  db: Db,
  row: { id: string; principal_id: string; hash: string; session_method: SessionMethod; expires_at: Date; signed_in_with: string | null },
): Promise<void> {
  await db.insertInto("principal_tokens").values(row).execute();
}

/** Ends one session; returns whether it was active. */
export async function revokeSession(db: Db, sessionId: string): Promise<boolean> {
  const result = await db
    .updateTable("principal_tokens")
    .set({ revoked_at: new Date() })
    .where("id", "=", sessionId)
    .where("session_method", "is not", null)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Deletes a principal's sessions that have ended (expired, signed out or revoked): they can never be used again. */
export async function deleteEndedSessions(db: Db, principalId: string): Promise<void> {
  await db
    .deleteFrom("principal_tokens")
    .where("principal_id", "=", principalId)
    .where("session_method", "is not", null)
    .where((eb) => eb.or([eb("expires_at", "<=", new Date()), eb("revoked_at", "is not", null)]))
    .execute();
}

/**
 * Locks a principal's sessions for this transaction: sign-ins of one principal then count each
 * other's sessions. Taken first (before a session's insert takes the key-share lock its foreign
 * key needs, which two sign-ins would then both try to upgrade: a deadlock), and NO KEY UPDATE,
 * so that rows referring to the principal can still be written meanwhile.
 */
export async function lockPrincipalSessions(tx: Tx, principalId: string): Promise<void> {
  await tx.selectFrom("principals").select("id").where("id", "=", principalId).forNoKeyUpdate().execute();
}

/** Ends a principal's active sessions beyond the `keep` most recent; returns how many it ended. */
export async function endSessionsBeyond(tx: Tx, principalId: string, keep: number): Promise<number> {
  const now = new Date();
  const result = await tx
    .updateTable("principal_tokens")
    .set({ revoked_at: now })
    .where("id", "in", (eb) =>
      eb
        .selectFrom("principal_tokens")
        .select("id")
        .where("principal_id", "=", principalId)
        .where("session_method", "is not", null)
        .where("revoked_at", "is", null)
        .where("expires_at", ">", now)
        .orderBy("created_at", "desc")
        .orderBy("id", "desc")
        .offset(keep),
    )
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
