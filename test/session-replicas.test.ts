// Sessions live in Postgres: a cookie signed in on one replica works on another and after a
// restart, and signing out or `apikeys tokens revoke` ends it on every replica at once, although
// each had the session in its cache.
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { SessionService } from "../contract/gen/apikeys/v1/session_service_pb.js";
import { ApiKeyService } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { createHasher } from "../server/hashing.js";
import { addPrincipal } from "../server/principal/principal.admin.js";
import { signedInClient, signIn } from "./support/session.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let first: TestServer;
let second: TestServer;
beforeAll(async () => {
  first = await startTestServer();
  second = await startTestServer({ DATABASE_URL: first.app.databaseUrl });
});
afterAll(async () => {
  await second?.stop();
  await first?.stop();
});

async function outcome(call: Promise<unknown>): Promise<"ok" | string> {
  try {
    await call;
    return "ok";
  } catch (err) {
    return Code[ConnectError.from(err).code];
  }
}

/** A new admin of the first server's workspace, with its token. */
const newAdmin = (name: string) =>
  addPrincipal(first.app.db, createHasher(first.config.argon2), { kind: "member", role: "admin", name, workspaceId: first.principals.workspaceId });

/** Signs in on the first replica and warms both replicas' caches with the session. */
async function signedInOnBoth(token: string) {
  const signedIn = await signIn(first.httpUrl, token);
  const clients = [first, second].map((s) => signedInClient(ApiKeyService, s.httpUrl, signedIn));
  for (const client of clients) {
    for (let warm = 0; warm < 2; warm++) expect(await outcome(client.listApiKeys({}))).toBe("ok");
  }
  return { signedIn, clients };
}

describe("sessions on two replicas", () => {
  it("`apikeys tokens revoke --principal` ends the session on every replica by the time it is confirmed", async () => {
    const admin = await newAdmin("Revoked on both");
    const { clients } = await signedInOnBoth(admin.token);
    await first.operate("tokens", "revoke", "--principal", admin.principalId);
    expect(await Promise.all(clients.map((c) => outcome(c.listApiKeys({}))))).toEqual(["Unauthenticated", "Unauthenticated"]);
  });

  it("signing out on one replica ends the session on the other by the time SignOut returns", async () => {
    const admin = await newAdmin("Signed out on both");
    const { signedIn, clients } = await signedInOnBoth(admin.token);
    await signedInClient(SessionService, first.httpUrl, signedIn).signOut({});
    expect(await Promise.all(clients.map((c) => outcome(c.listApiKeys({}))))).toEqual(["Unauthenticated", "Unauthenticated"]);
    // The principal's token still works: signing out ends the session, not the token.
    expect(await outcome(first.apiKeys(admin.token).listApiKeys({}))).toBe("ok");
  });

  it("a session survives a restart of the server it was signed in on", async () => {
    const admin = await newAdmin("Restarted");
    const signedIn = await signIn(second.httpUrl, admin.token);
    expect((await signedInClient(SessionService, second.httpUrl, signedIn).getSession({})).session!.principalName).toBe("Restarted");
    await second.stop();
    second = await startTestServer({ DATABASE_URL: first.app.databaseUrl });
    const { session } = await signedInClient(SessionService, second.httpUrl, signedIn).getSession({});
    expect(session).toMatchObject({ principalName: "Restarted", csrfToken: signedIn.session.csrfToken, expireTime: signedIn.session.expireTime });
    // The CSRF token is the same after the restart: a state-changing call goes through.
    expect(await outcome(signedInClient(ApiKeyService, second.httpUrl, signedIn).createApiKey({ name: "After restart", access: AccessLevel.FULL }))).toBe("ok");
  });
});
