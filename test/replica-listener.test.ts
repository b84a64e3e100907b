// One replica in this process (startTestServer): how it learns of changes (LISTEN), what it does
// while it cannot (its caches are off and every verification goes to the database), how it comes
// back, and how a change waits for the replicas that are alive and names those that do not answer.
import { setTimeout as sleep } from "node:timers/promises";
import { Code } from "@connectrpc/connect";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { createHasher } from "../server/hashing.js";
import { createLogger } from "../server/logger.js";
import { addPrincipal } from "../server/principal/principal.admin.js";
import { recordChange, SCOPES_SUBJECT } from "../server/replica/change.repository.js";
import { startReplica } from "../server/replica/replica.js";
import { confirmedChange, lockTables } from "./support/database.js";
import { outcomeOf } from "./support/outcome.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;
let admin: pg.Client;
beforeAll(async () => {
  server = await startTestServer();
  admin = new pg.Client({ connectionString: server.app.databaseUrl });
  await admin.connect();
});
afterAll(async () => {
  await admin?.end();
  await server?.stop();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const owner = () => server.apiKeys(server.principals.owner);
const verifier = () => server.apiKeys(server.principals.service, "grpc");
const statusOf = async (key: string) => VerificationStatus[(await verifier().verifyApiKey({ key })).status];
const keyCache = () => server.app.caches.keys;
const answerCache = () => server.app.caches.answers;
/** Verifications answered from memory: decided from the key cache, or sent a kept answer (gRPC). */
const servedFromMemory = () => keyCache().stats().hits + answerCache().stats().hits;
const listenerName = () => `apikeys-listener-${server.app.replica.id}`;

async function newKey(name: string) {
  const created = await owner().createApiKey({ name, access: AccessLevel.FULL });
  return { id: created.apiKey!.id, secret: created.secret };
}

/** Terminates this server's listener connection; returns how many backends were terminated. */
async function killListener(): Promise<number> {
  const { rows } = await admin.query<{ killed: boolean }>(
    "select pg_terminate_backend(pid) as killed from pg_stat_activity where application_name = $1",
    [listenerName()],
  );
  return rows.filter((r) => r.killed).length;
}

describe("a replica's listener", () => {
  it("killed, stops serving from the cache until it has reconnected, then serves correctly again", async () => {
    const gone = await newKey("Deleted behind the replica's back");
    const kept = await newKey("Still valid");
    for (const key of [gone, kept, gone, kept]) expect(await statusOf(key.secret)).toBe("VALID");
    // A second verification of a key is answered from memory (on the gRPC port, the kept answer).
    expect(keyCache().stats().enabled).toBe(true);
    expect(servedFromMemory()).toBeGreaterThanOrEqual(2);

    // Hold the replica's row: after reconnecting, it re-registers before it calls itself healthy,
    // so it stays without a listener for exactly as long as this transaction holds the row.
    const holder = new pg.Client({ connectionString: server.app.databaseUrl });
    await holder.connect();
    const health = vi.spyOn(keyCache(), "setEnabled");
    try {
      await holder.query("begin");
      await holder.query("select 1 from replicas where id = $1 for update", [server.app.replica.id]);
      expect(await killListener()).toBe(1);
      await vi.waitFor(() => expect(keyCache().stats().enabled).toBe(false), { timeout: 5000 });
      // The replica has reconnected and LISTENs again, but has not re-registered: not healthy yet.
      await vi.waitFor(
        async () => {
          const { rows } = await admin.query("select wait_event_type from pg_stat_activity where application_name = $1", [listenerName()]);
          expect(rows).toEqual([{ wait_event_type: "Lock" }]);
        },
        { timeout: 5000, interval: 20 },
      );
      expect(health.mock.calls).toEqual([[false]]);

      // A change that sends no notification: only the database knows.
      await sql`update api_keys set deleted_at = now() where id = ${gone.id}`.execute(server.app.db);
      const hits = keyCache().stats().hits;
      const answerHits = answerCache().stats().hits;
      expect(await statusOf(gone.secret)).toBe("REVOKED");
      expect(await statusOf(kept.secret)).toBe("VALID");
      expect(await statusOf(kept.secret)).toBe("VALID");
      expect(keyCache().stats()).toMatchObject({ enabled: false, hits, size: 0 });
      expect(answerCache().stats().hits).toBe(answerHits);
      expect(server.logs.some((l) => l.includes("replica listener down"))).toBe(true);
    } finally {
      await holder.query("commit").catch(() => {});
      await holder.end();
    }

    await vi.waitFor(() => expect(keyCache().stats().enabled).toBe(true), { timeout: 10_000 });
    expect(health.mock.calls).toEqual([[false], [true]]);
    const { rows } = await admin.query("select query from pg_stat_activity where application_name = $1", [listenerName()]);
    expect(rows).toHaveLength(1);
    expect(server.logs.some((l) => l.includes("replica listener is back"))).toBe(true);

    expect(await statusOf(gone.secret)).toBe("REVOKED");
    const served = servedFromMemory();
    expect(await statusOf(kept.secret)).toBe("VALID");
    expect(await statusOf(kept.secret)).toBe("VALID");
    // Memory serves again: the second call.
    expect(servedFromMemory()).toBe(served + 1);
    // And the new connection listens: a delete through the API is refused at once.
    await owner().deleteApiKey({ id: kept.id });
    expect(await statusOf(kept.secret)).toBe("REVOKED");
  });

  it("that missed a change notices it in its heartbeat, turns the cache off and listens again", async () => {
    const health = vi.spyOn(keyCache(), "setEnabled");
    // A change committed without NOTIFY two heartbeats ago: as if the listener had missed it.
    await sql`insert into changes (subjects, created_at) values (${["ak_missed"]}, now() - interval '10 seconds')`.execute(server.app.db);
    await vi.waitFor(() => expect(health.mock.calls).toEqual([[false], [true]]), { timeout: 10_000 });
    expect(server.logs.some((l) => l.includes("replica listener down") && l.includes("never received"))).toBe(true);
    // Listening again, it has claimed that change: the self-check stays quiet from now on.
    const { rows } = await admin.query<{ confirmed_change: string; latest: string }>(
      "select confirmed_change, (select max(id) from changes) as latest from replicas where id = $1",
      [server.app.replica.id],
    );
    expect(BigInt(rows[0]!.confirmed_change)).toBeGreaterThanOrEqual(BigInt(rows[0]!.latest));
  });

  it("whose read of a changed catalog is stuck for two heartbeats turns the cache off, as for a missed change, and listens again", async () => {
    const health = vi.spyOn(keyCache(), "setEnabled");
    const lock = await lockTables(server.app.databaseUrl, ["scopes"]);
    let change: string;
    try {
      change = await server.app.db.transaction().execute((tx) => recordChange(tx, [SCOPES_SUBJECT]));
      await vi.waitFor(() => expect(health.mock.calls).toEqual([[false], [true]]), { timeout: 10_000 });
      expect(server.logs.some((l) => l.includes("replica listener down") && l.includes("its read still running"))).toBe(true);
    } finally {
      await lock.release();
    }
    // Listening again, it has claimed the change, and its caches started empty.
    expect(await confirmedChange(server.app.db, server.app.replica.id)).toBeGreaterThanOrEqual(BigInt(change));
    const key = await newKey("After a stuck catalog read");
    expect(await statusOf(key.secret)).toBe("VALID");
  });
});

describe("a replica's heartbeat", () => {
  it("when it cannot be written, turns the cache off before the other replicas stop waiting for it", async () => {
    const health = vi.spyOn(keyCache(), "setEnabled");
    const holder = new pg.Client({ connectionString: server.app.databaseUrl });
    await holder.connect();
    try {
      // The heartbeat (and the re-registration after reconnecting) waits for this lock.
      await holder.query("begin");
      await holder.query("select 1 from replicas where id = $1 for update", [server.app.replica.id]);
      await vi.waitFor(() => expect(health.mock.calls).toEqual([[false]]), { timeout: 5000, interval: 20 });
      // Others wait for a replica whose heartbeat is under three intervals (3 s) old.
      const { rows } = await admin.query<{ age: number }>(
        "select extract(epoch from now() - heartbeat_at)::float8 as age from replicas where id = $1",
        [server.app.replica.id],
      );
      expect(rows[0]!.age).toBeLessThan(2.8);
      expect(server.logs.some((l) => l.includes("heartbeat not written in time"))).toBe(true);
    } finally {
      await holder.query("commit").catch(() => {});
      await holder.end();
    }
    await vi.waitFor(() => expect(health.mock.calls).toEqual([[false], [true]]), { timeout: 10_000 });
  });
});

describe("changes made with the CLI", () => {
  it("reach running replicas: a revoked token and a new scope are in force once the replica has the change", async () => {
    const leaving = await addPrincipal(server.app.db, createHasher(server.config.argon2), {
      kind: "member",
      role: "admin",
      name: "Leaving Admin",
      workspaceId: server.principals.workspaceId,
    });
    const key = await newKey("Full access");
    for (let warm = 0; warm < 2; warm++) await server.apiKeys(leaving.token).listScopes({});
    expect((await verifier().verifyApiKey({ key: key.secret })).scopes).not.toContain("billing:read");

    await server.operate("tokens", "revoke", "--principal", leaving.principalId);
    expect(await outcomeOf(server.apiKeys(leaving.token).listScopes({}))).toBe(Code.Unauthenticated);

    await server.operate("scopes", "add", "billing:read");
    expect((await verifier().verifyApiKey({ key: key.secret, requiredScopes: ["billing:read"] })).scopes).toContain("billing:read");
    const { rows } = await sql<{ subjects: string[] }>`select subjects from changes order by id desc limit 2`.execute(server.app.db);
    expect(rows.map((r) => r.subjects)).toEqual([["scopes"], [`principal:${leaving.principalId}`]]);
  });
});

describe("confirmation of a change", () => {
  it("names a live replica that does not confirm, and the change still returns within the bound", async () => {
    const key = await newKey("Deleted while a replica is silent");
    const silent = "rp_silentReplica1";
    // A registered replica with a fresh heartbeat and no listener.
    await sql`insert into replicas (id) values (${silent})`.execute(server.app.db);
    try {
      const started = performance.now();
      await owner().deleteApiKey({ id: key.id });
      const ms = performance.now() - started;
      expect(ms).toBeGreaterThanOrEqual(1900);
      expect(ms).toBeLessThan(4000);
      const warning = server.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "replicas did not confirm a change in time");
      expect(warning).toMatchObject({ level: "warn", replicas: [silent], replica: server.app.replica.id });
      expect(await statusOf(key.secret)).toBe("REVOKED");
    } finally {
      await sql`delete from replicas where id = ${silent}`.execute(server.app.db);
    }
  });

  it("does not wait for a replica whose heartbeat is old", async () => {
    const key = await newKey("Deleted while a replica is gone");
    const gone = "rp_goneReplica12";
    await sql`insert into replicas (id, heartbeat_at) values (${gone}, now() - interval '10 seconds')`.execute(server.app.db);
    const warnings = () => server.logs.filter((l) => l.includes(gone)).length;
    try {
      const started = performance.now();
      await owner().deleteApiKey({ id: key.id });
      expect(performance.now() - started).toBeLessThan(1000);
      expect(warnings()).toBe(0);
    } finally {
      await sql`delete from replicas where id = ${gone}`.execute(server.app.db);
    }
  });

  it("of a higher id never commits before a lower one: a change waits for the one in progress to commit", async () => {
    // Why `confirmed_change >= N` may stand for "every change up to N": ids follow commit order.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let firstId: string | undefined;
    const first = server.app.db.transaction().execute(async (tx) => {
      firstId = await recordChange(tx, ["ak_slow"]);
      await held;
    });
    let secondId: string | undefined;
    try {
      await vi.waitFor(() => expect(firstId).toBeDefined());
      const second = server.app.db.transaction().execute(async (tx) => (secondId = await recordChange(tx, ["ak_quick"])));
      await sleep(200);
      expect(secondId).toBeUndefined();
      release();
      await Promise.all([first, second]);
    } finally {
      release();
      await first;
    }
    expect(BigInt(secondId!)).toBeGreaterThan(BigInt(firstId!));
  });

  it("follows commits only: each replica evicts a committed change before confirming it, and a rolled-back one never", async () => {
    const changes: string[][] = [];
    const health: boolean[] = [];
    const replica = await startReplica({
      databaseUrl: server.app.databaseUrl,
      db: server.app.db,
      log: createLogger("error"),
      onChange: (subjects) => void changes.push([...subjects]),
      onHealth: (ok) => void health.push(ok),
    });
    try {
      expect(replica.id).toMatch(/^rp_[0-9A-Za-z]{12}$/);
      expect(health).toEqual([false, true]);
      const listeners = await admin.query("select 1 from pg_stat_activity where application_name = $1", [`apikeys-listener-${replica.id}`]);
      expect(listeners.rows).toHaveLength(1);

      const first = await server.app.db.transaction().execute((tx) => recordChange(tx, ["ak_first", "legacy:lk_first"]));
      await expect(
        server.app.db.transaction().execute(async (tx) => {
          await recordChange(tx, ["ak_rolled_back"]);
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      const third = await server.app.db.transaction().execute((tx) => recordChange(tx, ["principal:pr_third"]));
      expect(BigInt(third)).toBeGreaterThan(BigInt(first));

      const started = performance.now();
      await replica.awaitConfirmation(third);
      expect(performance.now() - started).toBeLessThan(1000);
      // Both replicas (the server's and this one) have confirmed, so both have evicted.
      const { rows } = await admin.query<{ id: string; confirmed_change: string }>("select id, confirmed_change from replicas");
      expect(rows.map((r) => r.id).sort()).toEqual([server.app.replica.id, replica.id].sort());
      for (const row of rows) expect(BigInt(row.confirmed_change)).toBeGreaterThanOrEqual(BigInt(third));
      expect(changes).toEqual([["ak_first", "legacy:lk_first"], ["principal:pr_third"]]);
    } finally {
      await replica.stop();
    }
    expect(health).toEqual([false, true, false]);
    const { rows } = await admin.query("select id from replicas where id = $1", [replica.id]);
    expect(rows).toEqual([]);
    await vi.waitFor(async () => {
      const left = await admin.query("select 1 from pg_stat_activity where application_name = $1", [`apikeys-listener-${replica.id}`]);
      expect(left.rows).toEqual([]);
    });
  });

  it("waits for what a change must read again before confirming it, and a failed read breaks the listener", async () => {
    // Each "scopes" change hands back a read that the test settles by hand.
    const reads: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
    const health: boolean[] = [];
    const replica = await startReplica({
      databaseUrl: server.app.databaseUrl,
      db: server.app.db,
      log: createLogger("error"),
      onChange: (subjects) => (subjects.includes("scopes") ? new Promise<void>((resolve, reject) => void reads.push({ resolve, reject })) : undefined),
      onHealth: (ok) => void health.push(ok),
    });
    const confirmed = () => confirmedChange(server.app.db, replica.id);
    const change = (subjects: string[]) => server.app.db.transaction().execute((tx) => recordChange(tx, subjects));
    try {
      const read = await change(["scopes"]);
      const later = await change(["ak_later"]);
      await vi.waitFor(() => expect(reads).toHaveLength(1));
      // The later change needs no read, but confirming it would confirm the earlier one too.
      await sleep(300);
      expect(await confirmed()).toBeLessThan(BigInt(read));
      reads[0]!.resolve();
      await vi.waitFor(async () => expect(await confirmed()).toBeGreaterThanOrEqual(BigInt(later)));

      const failing = await change(["scopes"]);
      await vi.waitFor(() => expect(reads).toHaveLength(2));
      reads[1]!.reject(new Error("the catalog could not be read"));
      // Caches off, then listening again, which claims every change so far.
      await vi.waitFor(() => expect(health).toEqual([false, true, false, true]), { timeout: 5000 });
      expect(await confirmed()).toBeGreaterThanOrEqual(BigInt(failing));
    } finally {
      await replica.stop();
    }
  });

  it("whose read fails while the replica stops does not keep the replica from leaving the set", async () => {
    let rejectRead: ((err: Error) => void) | undefined;
    const warnings: string[] = [];
    const replica = await startReplica({
      databaseUrl: server.app.databaseUrl,
      db: server.app.db,
      log: createLogger("warn", {}, (line) => void warnings.push(line)),
      onChange: (subjects) => (subjects.includes("scopes") ? new Promise<void>((_, reject) => void (rejectRead = reject)) : undefined),
      onHealth: () => {},
    });
    const rows = async () => (await admin.query("select id from replicas where id = $1", [replica.id])).rows;
    await server.app.db.transaction().execute((tx) => recordChange(tx, ["scopes"]));
    await vi.waitFor(() => expect(rejectRead).toBeDefined());
    expect(await rows()).toHaveLength(1);
    // stop() sends its LEAVE on the listener's connection before the read's failure is handled;
    // that failure used to close the connection under it.
    const stopping = replica.stop();
    rejectRead!(new Error("the catalog could not be read"));
    await stopping;
    expect(warnings).toEqual([]);
    expect(await rows()).toEqual([]);
  });
});
