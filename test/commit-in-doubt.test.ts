// A connection that breaks while COMMIT is in flight leaves the change's fate unknown: the answer
// says so (UNAVAILABLE, "may have been made", check before retrying) instead of "retry shortly",
// which would make a second key or a second rotation. The COMMIT is held for real by a deferred
// constraint trigger that sleeps for one key's name, and its session is terminated meanwhile, as a
// failover or an administrator would.
import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { COMMIT_IN_DOUBT } from "../server/errors.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;
let admin: pg.Client;
const IN_DOUBT = "Committed in doubt";

beforeAll(async () => {
  server = await startTestServer();
  admin = new pg.Client({ connectionString: server.app.databaseUrl });
  await admin.connect();
  await admin.query(`
    create function sleep_at_commit() returns trigger language plpgsql as $$
    begin
      if new.name = '${IN_DOUBT}' then perform pg_sleep(120); end if;
      return null;
    end $$`);
  await admin.query(`
    create constraint trigger sleep_at_commit after insert on api_keys
    deferrable initially deferred for each row execute function sleep_at_commit()`);
});
afterAll(async () => {
  await admin?.end();
  await server?.stop();
});

// The server's session running COMMIT, held by the deferred trigger's pg_sleep.
const COMMITTING = `datname = current_database() and wait_event = 'PgSleep' and query ilike 'commit%'`;

describe("CreateApiKey", () => {
  it("when the connection breaks during COMMIT, then it answers UNAVAILABLE saying the key may exist and to check before retrying", async () => {
    const owner = server.apiKeys(server.principals.owner);
    const answer = owner.createApiKey({ name: IN_DOUBT, access: AccessLevel.FULL }).catch((err: unknown) => ConnectError.from(err));
    await expect.poll(async () => (await admin.query(`select 1 from pg_stat_activity where ${COMMITTING}`)).rowCount, { timeout: 20_000 }).toBe(1);
    await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where ${COMMITTING}`);
    const error = await answer;
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Unavailable);
    expect((error as ConnectError).rawMessage).toBe(COMMIT_IN_DOUBT);
    expect(COMMIT_IN_DOUBT).toContain("may have been made");
    // Counted as an outage like any other lost connection, and the server keeps serving.
    expect(server.logs.some((l) => l.includes('"msg":"database unreachable: calls answer UNAVAILABLE until it is back"'))).toBe(true);
    const { apiKey } = await owner.createApiKey({ name: "After the doubt", access: AccessLevel.FULL });
    expect((await owner.getApiKey({ id: apiKey!.id })).apiKey!.name).toBe("After the doubt");
  }, 60_000);
});
