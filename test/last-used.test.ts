// Last-used times: recorded in memory per verification, written in one statement per flush.
// The recorder runs against the test server's Postgres through a Kysely of its own, whose query
// log shows every statement it sends.
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import type { Database } from "../server/db/database.js";
import { createLogger } from "../server/logger.js";
import { createLastUsedRecorder } from "../server/verify/last-used.js";
import { lockTables } from "./support/database.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;
let db: Kysely<Database>;
const statements: string[] = [];
beforeAll(async () => {
  server = await startTestServer();
  db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: server.app.databaseUrl, max: 2 }) }),
    log: (event) => void statements.push(event.query.sql),
  });
});
afterAll(async () => {
  await db?.destroy();
  await server?.stop();
});

describe("last-used recorder", () => {
  it("sends nothing per use, then one statement per flush for API keys and legacy keys together", async () => {
    const owner = server.apiKeys(server.principals.owner);
    const keys = await Promise.all([1, 2, 3].map((n) => owner.createApiKey({ name: `Used ${n}`, access: AccessLevel.FULL })));
    const ids = keys.map((k) => k.apiKey!.id);
    const legacyId = "lg_recorder";
    await server.app.db
      .insertInto("legacy_keys")
      .values({ id: legacyId, workspace_id: server.principals.otherWorkspaceId, hint: "abcd…wxyz", hash: "$argon2id$not-checked-here" })
      .execute();

    const recorder = createLastUsedRecorder(db, 3_600_000, createLogger("error"));
    try {
      const before = Date.now();
      for (let i = 0; i < 1000; i++) recorder.record("api_keys", ids[i % ids.length]!);
      recorder.record("legacy_keys", legacyId);
      expect(statements).toEqual([]);

      await recorder.flush();
      expect(statements).toHaveLength(1);
      const used = await server.app.db.selectFrom("api_keys").select(["id", "last_used_at"]).where("id", "in", ids).execute();
      const legacy = await server.app.db.selectFrom("legacy_keys").select("last_used_at").where("id", "=", legacyId).executeTakeFirstOrThrow();
      for (const at of [...used.map((u) => u.last_used_at), legacy.last_used_at]) {
        expect(at?.getTime()).toBeGreaterThanOrEqual(before);
        expect(at?.getTime()).toBeLessThanOrEqual(Date.now());
      }
      expect(used).toHaveLength(3);

      // Nothing used since: nothing is sent. Only API keys used: legacy_keys is left alone.
      await recorder.flush();
      expect(statements).toHaveLength(1);
      recorder.record("api_keys", ids[0]!);
      await recorder.flush();
      expect(statements).toHaveLength(2);
      expect(statements[1]).toContain('"api_keys"');
      expect(statements[1]).not.toContain("legacy_keys");
    } finally {
      await recorder.stop();
    }
  });

  it("stops only once a flush waiting for a locked table has written its batch", async () => {
    const { apiKey } = await server.apiKeys(server.principals.owner).createApiKey({ name: "Flushed at stop", access: AccessLevel.FULL });
    const recorder = createLastUsedRecorder(db, 20, createLogger("error"));
    const lock = await lockTables(server.app.databaseUrl, ["api_keys"]);
    let stopped = false;
    try {
      recorder.record("api_keys", apiKey!.id);
      // The timer's flush is now waiting for the lock.
      await expect.poll(() => lock.waiting()).toBe(1);
      const stopping = recorder.stop().then(() => (stopped = true));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(stopped).toBe(false);
      await lock.release();
      await stopping;
    } finally {
      await lock.release();
      await recorder.stop();
    }
    const row = await server.app.db.selectFrom("api_keys").select("last_used_at").where("id", "=", apiKey!.id).executeTakeFirstOrThrow();
    expect(row.last_used_at).not.toBeNull();
  });
});
