// This process as one replica among several on one Postgres. Each replica
// - registers a row in `replicas` and refreshes its heartbeat, so others know whom to wait for;
// - LISTENs for changes on a dedicated connection and, for each, evicts first (`onChange`),
//   then confirms (`confirmed_change`): "my caches hold nothing older than this change";
// - while that connection is down or stuck, reports itself unhealthy (`onHealth(false)`: its
//   caches are off and verification goes to the database) until it listens again;
// - on request, waits until every live replica has confirmed a change (`awaitConfirmation`),
//   which is what lets a delete return only once the key is refused everywhere.
//
// Change ids commit in increasing order (see change.repository.ts), so confirming change N
// covers every change below it. After (re)connecting, a replica claims every change committed so
// far: its caches were off, hence empty, and every later change reaches the LISTEN already active.
import { setTimeout as sleep } from "node:timers/promises";
import { sql } from "kysely";
import pg from "pg";
import { randomBase62 } from "../../contract/key-format.js";
import type { Db } from "../db/database.js";
import type { OutageLog } from "../db/outage-log.js";
import { withDeadline } from "../deadline-race.js";
import { isDatabaseUnreachable, UnconfirmedChangeError } from "../errors.js";
import type { Logger } from "../logger.js";
import { CHANGES_CHANNEL } from "./change.repository.js";

export interface ReplicaOptions {
  /** The database every replica shares; the listener opens its own connection to it. */
  readonly databaseUrl: string;
  readonly db: Db;
  readonly log: Logger;
  /**
   * Evicts what a change names. Called before the change is confirmed; must not throw. What must
   * be read again returns a promise: the change is confirmed once it resolves, and a rejection
   * counts as a broken listener (caches off, then listen again).
   */
  onChange(subjects: readonly string[]): void | Promise<void>;
  /** false: changes may be missed, serve nothing from caches; true: listening again (start empty). */
  onHealth(healthy: boolean): void;
  /** Told why reconnecting failed: an idle server learns of an outage from its listener too. */
  readonly outage?: Pick<OutageLog, "taskFailed">;
  /** How often the heartbeat is written (default 1000 ms). */
  readonly heartbeatMs?: number;
  /** How long `awaitConfirmation` waits at most (default 2000 ms). */
  readonly confirmTimeoutMs?: number;
  /**
   * Told how each `awaitConfirmation` ended and how long it took: confirmed by every live replica,
   * missed (some did not confirm in time), or unchecked (it threw: nobody could check).
   */
  onConfirmation?(outcome: "confirmed" | "missed" | "unchecked", ms: number): void;
}

export interface Replica {
  /** This replica's id, such as "rp_3kTq9ZbW1xYp"; its listener's application_name is `apikeys-listener-<id>`. */
  readonly id: string;
  /**
   * Resolves once every live replica (heartbeat within 3 intervals) has confirmed `changeId`, or
   * after the timeout, having logged a warning naming the replicas that did not confirm. Rejects
   * with an UnconfirmedChangeError (UNAVAILABLE) when, by the timeout, nobody could check: its
   * message starts with `committed`, which says what the caller's committed change did.
   */
  awaitConfirmation(changeId: string, committed?: string): Promise<void>;
  /** Leaves the replica set (deletes its row) and closes the listener. */
  stop(): Promise<void>;
}

/** A replica whose heartbeat is older than this many intervals is not waited for. */
export const LIVE_HEARTBEATS = 3;
/** A change unconfirmed for this many intervals: the listener missed it. */
const STUCK_HEARTBEATS = 2;
/**
 * No heartbeat written for this many intervals: the listener is stuck. Checked four times per
 * interval, so a replica turns its caches off before the others stop waiting for it (LIVE_HEARTBEATS).
 */
const SILENT_HEARTBEATS = 2;
const CHECKS_PER_HEARTBEAT = 4;
const POLL_MS = 5;
const FAILED_CHECK_RETRY_MS = 50;
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 2000;
const PRUNE_EVERY_MS = 30_000;

// Registration, on every (re)connection, after LISTEN: claims every change committed so far.
const REGISTER = `
  insert into replicas (id, confirmed_change) values ($1, (select coalesce(max(id), 0) from changes))
  on conflict (id) do update
    set heartbeat_at = now(), confirmed_change = greatest(replicas.confirmed_change, excluded.confirmed_change)
  returning confirmed_change::text as confirmed`;
// The heartbeat, and the self-check: a change older than $3 seconds that this replica has not
// confirmed means its listener missed it. Re-creates the row if it was pruned meanwhile.
const HEARTBEAT = `
  insert into replicas (id, confirmed_change) values ($1, $2)
  on conflict (id) do update set heartbeat_at = now()
  returning exists (
    select 1 from changes c
    where c.id > replicas.confirmed_change and c.created_at < now() - make_interval(secs => $3)
  ) as stuck`;
const CONFIRM = `update replicas set confirmed_change = greatest(confirmed_change, $2) where id = $1`;
const LEAVE = `delete from replicas where id = $1`;

/** One connection of the listener, with what it has confirmed. */
interface Listener {
  readonly client: pg.Client;
  dead: boolean;
  confirmWanted: bigint;
  confirmSent: bigint;
  confirming: boolean;
  /** What changes received so far still wait for (see `onChange`); confirmations wait for it too. */
  settling: Promise<void>;
  beating: boolean;
  /** When the last heartbeat was sent, and when the last one that was written (or the registration) was. */
  lastSentAt: number;
  lastBeatAt: number;
}

/** Registers this process as a replica and starts listening; resolves once LISTEN is active. */
export async function startReplica(options: ReplicaOptions): Promise<Replica> {
  const { databaseUrl, db } = options;
  const heartbeatMs = options.heartbeatMs ?? 1000;
  const confirmTimeoutMs = options.confirmTimeoutMs ?? 2000;
  const id = `rp_${randomBase62(12)}`;
  const log = options.log.child({ replica: id });
  const abort = new AbortController();
  let stopped = false;
  let current: Listener | undefined;
  let connecting: Listener | undefined;
  let reconnecting: Promise<void> | undefined;
  /** The highest change this replica has confirmed in its row. */
  let confirmed = 0n;
  let healthy: boolean | undefined;
  let lastPrune = 0;

  function setHealthy(ok: boolean): void {
    if (healthy === ok) return;
    healthy = ok;
    options.onHealth(ok);
  }

  /** The listener connection is gone or cannot be trusted: caches off, then reconnect. */
  function fail(conn: Listener, reason: string, error?: unknown): void {
    // Once stopping, stop() closes every listener itself, after leaving the replica set on it.
    if (conn.dead || stopped) return;
    conn.dead = true;
    conn.client.end().catch(() => {});
    if (conn !== current) return;
    current = undefined;
    setHealthy(false);
    log.warn("replica listener down: serving no cached verification until it listens again", { reason, error });
    void reconnect();
  }

  function onNotification(conn: Listener, msg: pg.Notification): void {
    if (msg.channel !== CHANGES_CHANNEL || conn.dead || stopped) return;
    const notice = parseNotice(msg.payload);
    if (!notice) return fail(conn, "unreadable change notification", msg.payload);
    let settled: void | Promise<void>;
    try {
      settled = options.onChange(notice.subjects);
    } catch (err) {
      return fail(conn, "evicting a change failed", err);
    }
    // A failed read breaks the listener before the confirmation that waits for it could go out.
    if (settled) {
      const read = settled.catch((err: unknown) => fail(conn, "reading a change failed", err));
      conn.settling = conn.settling.then(() => read);
    }
    confirm(conn, notice.id);
  }

  // On the critical path of every delete: one statement on the listener's own connection, after
  // any read an earlier change still waits for (see `onChange`), and a burst of notifications is
  // confirmed by one statement for the highest.
  function confirm(conn: Listener, changeId: bigint): void {
    if (changeId > conn.confirmWanted) conn.confirmWanted = changeId;
    if (conn.confirming) return;
    conn.confirming = true;
    void (async () => {
      try {
        while (!conn.dead && conn.confirmWanted > conn.confirmSent) {
          const value = conn.confirmWanted;
          // Every change up to `value` was received before this point, so this covers them all.
          await conn.settling;
          if (conn.dead) return;
          await conn.client.query(CONFIRM, [id, value.toString()]);
          conn.confirmSent = value;
          if (value > confirmed) confirmed = value;
        }
      } catch (err) {
        // A broken connection also emits 'error' or 'end', which reconnects; anything else
        // leaves the change unconfirmed, which the self-check turns into a reconnection.
        if (!conn.dead) log.warn("replica could not confirm a change", { error: err });
      } finally {
        conn.confirming = false;
      }
    })();
  }

  /** Connects, LISTENs and (re-)registers; the caches stay off until the caller says healthy. */
  async function listen(): Promise<Listener> {
    const client = new pg.Client({
      connectionString: databaseUrl,
      application_name: `apikeys-listener-${id}`,
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
    });
    const conn: Listener = { client, dead: false, confirmWanted: 0n, confirmSent: 0n, confirming: false, settling: Promise.resolve(), beating: false, lastSentAt: 0, lastBeatAt: 0 };
    client.on("error", (err) => fail(conn, "connection error", err));
    client.on("end", () => fail(conn, "connection closed"));
    client.on("notification", (msg) => onNotification(conn, msg));
    connecting = conn;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
      const sentAt = Date.now();
      const { rows } = await client.query<{ confirmed: string }>(REGISTER, [id]);
      const claimed = BigInt(rows[0]!.confirmed);
      if (claimed > confirmed) confirmed = claimed;
      conn.lastBeatAt = conn.lastSentAt = sentAt;
    } catch (err) {
      conn.dead = true;
      await client.end().catch(() => {});
      throw err;
    } finally {
      connecting = undefined;
    }
    if (conn.dead) throw new Error("the listener connection closed while starting");
    return conn;
  }

  function reconnect(): Promise<void> {
    reconnecting ??= (async () => {
      for (let delay = BACKOFF_FIRST_MS; !stopped; delay = Math.min(delay * 2, BACKOFF_MAX_MS)) {
        try {
          await sleep(delay, undefined, { signal: abort.signal });
        } catch {
          return; // stopped
        }
        try {
          const conn = await listen();
          if (stopped) {
            conn.dead = true;
            await conn.client.end().catch(() => {});
            return;
          }
          current = conn;
          setHealthy(true);
          log.info("replica listener is back: caches on, starting empty");
          return;
        } catch (err) {
          if (!stopped) options.outage?.taskFailed(err);
          // Once per outage: the attempts that follow fail the same way until the database is back.
          const level = delay === BACKOFF_FIRST_MS ? "warn" : "debug";
          if (!stopped) log[level]("replica listener could not reconnect; retrying", { retryInMs: Math.min(delay * 2, BACKOFF_MAX_MS), error: err });
        }
      }
    })().finally(() => (reconnecting = undefined));
    return reconnecting;
  }

  async function heartbeat(): Promise<void> {
    const conn = current;
    if (!conn || stopped) return; // reconnecting: registering again refreshes the heartbeat
    const now = Date.now();
    if (now - conn.lastBeatAt >= SILENT_HEARTBEATS * heartbeatMs) return fail(conn, "heartbeat not written in time");
    if (conn.beating || now - conn.lastSentAt < heartbeatMs) return;
    conn.beating = true;
    const sentAt = (conn.lastSentAt = now);
    try {
      const { rows } = await conn.client.query<{ stuck: boolean }>(HEARTBEAT, [id, confirmed.toString(), (STUCK_HEARTBEATS * heartbeatMs) / 1000]);
      conn.lastBeatAt = sentAt;
      if (rows[0]?.stuck) fail(conn, "a change committed two heartbeats ago is still unconfirmed (never received, or its read still running)");
    } catch (err) {
      if (!conn.dead) log.warn("replica heartbeat failed", { error: err });
    } finally {
      conn.beating = false;
    }
    if (Date.now() - lastPrune >= PRUNE_EVERY_MS) {
      lastPrune = Date.now();
      await prune().catch((err: unknown) => log.warn("pruning replicas and changes failed", { error: err }));
    }
  }

  /** Forgets changes no replica can still be waiting for, and replicas long gone. */
  async function prune(): Promise<void> {
    await db.deleteFrom("changes").where("created_at", "<", sql<Date>`now() - interval '10 minutes'`).execute();
    await db.deleteFrom("replicas").where("heartbeat_at", "<", sql<Date>`now() - interval '1 minute'`).execute();
  }

  /**
   * Live replicas that have not confirmed `changeId` yet; Postgres cancels the query after `boundMs`.
   * Giving up on it from here would leave it waiting (on a locked `replicas`: a migration, VACUUM
   * FULL) and holding its pool connection, until a few writes had taken the whole pool.
   */
  async function lagging(changeId: string, boundMs: number): Promise<string[]> {
    const rows = await db.transaction().execute(async (tx) => {
      await sql`select set_config('statement_timeout', ${`${Math.ceil(boundMs)}ms`}, true)`.execute(tx);
      return tx
        .selectFrom("replicas")
        .select("id")
        .where("confirmed_change", "<", changeId)
        .where("heartbeat_at", ">", sql<Date>`now() - make_interval(secs => ${(LIVE_HEARTBEATS * heartbeatMs) / 1000})`)
        .execute();
    });
    return rows.map((r) => r.id);
  }

  // Fail closed from the start: nothing is served from a cache until LISTEN is active.
  setHealthy(false);
  current = await listen();
  setHealthy(true);
  const timer = setInterval(() => void heartbeat(), heartbeatMs / CHECKS_PER_HEARTBEAT);
  timer.unref();
  log.info("replica registered and listening for changes", { heartbeatMs });

  return {
    id,

    async awaitConfirmation(changeId, committed = "The change is committed") {
      const started = performance.now();
      // Who lagged at the last check that worked, and why the checks since then failed.
      let waitingFor: string[] | undefined;
      let failure: unknown;
      for (;;) {
        const remainingMs = confirmTimeoutMs - (performance.now() - started);
        try {
          const boundMs = Math.max(remainingMs, POLL_MS);
          const found = await withDeadline(lagging(changeId, boundMs), boundMs);
          if (found) [waitingFor, failure] = [found, undefined];
          else failure = new Error(`the check was still running after ${confirmTimeoutMs} ms`);
        } catch (err) {
          failure = err;
        }
        if (!failure && waitingFor?.length === 0) return void options.onConfirmation?.("confirmed", performance.now() - started);
        const waitedMs = Math.round(performance.now() - started);
        if (waitedMs >= confirmTimeoutMs) {
          options.onConfirmation?.(waitingFor ? "missed" : "unchecked", performance.now() - started);
          if (waitingFor) {
            // Each of them finds out by its own self-check and then serves nothing from its caches.
            log.warn("replicas did not confirm a change in time", { change: changeId, replicas: waitingFor, waitedMs, ...(failure ? { error: failure } : {}) });
            return;
          }
          // A change nobody could check must not be reported as confirmed (see UnconfirmedChangeError).
          log.warn("could not check which replicas confirmed a change", { change: changeId, waitedMs, error: failure });
          const why = isDatabaseUnreachable(failure) ? "the database is unreachable" : "checking the replicas failed";
          throw new UnconfirmedChangeError(
            `${committed}, but whether every replica has applied it could not be checked (${why}): a replica may answer ` +
              "from its cache as before until it confirms the change or turns its caches off, within about 2 s. " +
              "Do not repeat the change.",
            { cause: failure },
          );
        }
        // A failed check is tried again within the bound: a lost connection is usually replaced at once.
        await sleep(failure ? FAILED_CHECK_RETRY_MS : POLL_MS);
      }
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      abort.abort();
      clearInterval(timer);
      connecting?.client.end().catch(() => {});
      await reconnecting;
      const conn = current;
      current = undefined;
      setHealthy(false);
      try {
        // On the listener's connection when it is up, so a heartbeat in flight cannot re-create the row.
        if (conn && !conn.dead) await conn.client.query(LEAVE, [id]);
        else await db.deleteFrom("replicas").where("id", "=", id).execute();
      } catch (err) {
        log.warn("could not remove this replica's row; it is pruned once its heartbeat is old", { error: err });
      }
      if (conn) {
        conn.dead = true;
        await conn.client.end().catch(() => {});
      }
    },
  };
}

/** The id and subjects of a change notification, or undefined when it is not one. */
function parseNotice(payload: string | undefined): { id: bigint; subjects: string[] } | undefined {
  try {
    const value = JSON.parse(payload ?? "") as { id?: unknown; subjects?: unknown };
    if (typeof value.id !== "string" || !/^\d{1,19}$/.test(value.id)) return undefined;
    if (!Array.isArray(value.subjects) || !value.subjects.every((s) => typeof s === "string")) return undefined;
    return { id: BigInt(value.id), subjects: value.subjects as string[] };
  } catch {
    return undefined;
  }
}
