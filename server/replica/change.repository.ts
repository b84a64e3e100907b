// Recording a change that replicas must evict. Called inside the transaction of the change
// itself: the row and the NOTIFY commit (or roll back) with it, and Postgres delivers the
// notification to every listening replica only once the transaction has committed.
import { sql } from "kysely";
import type { Tx } from "../db/database.js";

/** The channel every replica listens on; the payload is JSON `{ "id": "<change id>", "subjects": [...] }`. */
export const CHANGES_CHANNEL = "apikeys_changes";

/** What a notification on CHANGES_CHANNEL carries. */
export interface ChangeNotice {
  readonly id: string;
  readonly subjects: readonly string[];
}

// A transaction-level advisory lock taken before the change id is drawn and held until commit:
// change ids then commit in increasing order, so a replica that has processed change N has
// processed every change below N too (what `confirmed_change >= N` is taken to mean). Changes
// are management operations, rare next to verifications; the lock covers only their last step.
const CHANGES_LOCK = "7021229893768144243"; // "apkchges" as a bigint

/** What to evict: an API key id. */
export const keySubject = (keyId: string) => keyId;
/** What to evict: a legacy account key. */
export const legacySubject = (legacyKeyId: string) => `legacy:${legacyKeyId}`;
/** What to evict: every token of a principal. */
export const principalSubject = (principalId: string) => `principal:${principalId}`;
/** What to evict: the scope catalog. */
export const SCOPES_SUBJECT = "scopes";

/**
 * Records a change of `subjects` in `tx` and notifies every replica when `tx` commits; returns
 * the change id to pass to the replica's `awaitConfirmation` once the transaction has committed.
 * Call it as the last statement of the transaction: the lock it takes is held until commit.
 */
export async function recordChange(tx: Tx, subjects: readonly string[]): Promise<string> {
  await sql`select pg_advisory_xact_lock(${CHANGES_LOCK}::bigint)`.execute(tx);
  // clock_timestamp(), not now(): the replicas' self-check ages a change from about its commit,
  // not from the start of a transaction that may have waited for locks.
  const { id } = await tx
    .insertInto("changes")
    .values({ subjects: [...subjects], created_at: sql<Date>`clock_timestamp()` })
    .returning("id")
    .executeTakeFirstOrThrow();
  const notice: ChangeNotice = { id: String(id), subjects };
  await sql`select pg_notify(${CHANGES_CHANNEL}, ${JSON.stringify(notice)})`.execute(tx);
  return String(id);
}
