// Browser sessions: signing in with a principal token for an HttpOnly cookie, the cookie as a
// credential (with its CSRF token and Origin rules), signing out, expiry and revocation; with
// curl and connect-node's Connect transport against a real server on a real Postgres.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { parseSetCookie } from "cookie";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { ApiKeyService, VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { AuditAction } from "../contract/gen/apikeys/v1/audit_event_pb.js";
import { PrincipalKind, Role, SessionService, SignInMethod } from "../contract/gen/apikeys/v1/session_service_pb.js";
import { mintToken } from "../contract/key-format.js";
import { loadConfig } from "../server/config.js";
import { createHasher } from "../server/hashing.js";
import { MAX_SESSIONS_PER_PRINCIPAL } from "../server/session/sessions.js";
import { addPrincipal } from "../server/principal/principal.admin.js";
import { makeCertificate, type TestCertificate } from "./support/certificate.js";
import { browserClient, signedInClient, signIn, type SignedIn } from "./support/session.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const run = promisify(execFile);
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

/** The error a call fails with (the test fails if it succeeds). */
async function failure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("the call succeeded");
}

/** curl's answer to a Connect JSON call: status, headers (lower-case names) and body. */
async function curl(url: string, body: unknown, headers: Record<string, string> = {}, extra: string[] = []) {
  const args = ["-sS", "-i", "-X", "POST", "-H", "content-type: application/json", "--data-binary", JSON.stringify(body), ...extra];
  for (const [name, value] of Object.entries(headers)) args.push("-H", `${name}: ${value}`);
  const { stdout } = await run("curl", [...args, url]);
  const [head, ...rest] = stdout.split("\r\n\r\n");
  const lines = head!.split("\r\n");
  const status = Number(lines[0]!.split(" ")[1]);
  const setCookies = lines.filter((l) => /^set-cookie:/i.test(l)).map((l) => l.slice(l.indexOf(":") + 1).trim());
  return { status, setCookies, body: JSON.parse(rest.join("\r\n\r\n") || "{}") as Record<string, unknown> };
}

const sessions = (headers: Parameters<typeof browserClient>[2]) => browserClient(SessionService, server.httpUrl, headers);
const keysFor = (headers: Parameters<typeof browserClient>[2]) => browserClient(ApiKeyService, server.httpUrl, headers);

/** The principal's id, as GetSession tells it to a bearer. */
async function principalIdOf(token: string): Promise<string> {
  return (await sessions({ bearer: token }).getSession({})).session!.principalId;
}

describe("SignIn", () => {
  it("exchanges a principal token for an HttpOnly, SameSite=Strict cookie with the session's life as Max-Age (curl)", async () => {
    const res = await curl(`${server.httpUrl}/apikeys.v1.SessionService/SignIn`, { token: server.principals.owner });
    expect(res.status).toBe(200);
    expect(res.setCookies).toHaveLength(1);
    const cookie = parseSetCookie(res.setCookies[0]!);
    expect(cookie).toMatchObject({ name: "apikeys_session", path: "/", httpOnly: true, sameSite: "strict", maxAge: 12 * 3600 });
    expect(cookie.secure).toBeFalsy(); // plain HTTP: a Secure cookie would never be sent back
    expect(cookie.value).toMatch(/^aks_[0-9A-Za-z]{50}$/);
    const session = res.body.session as Record<string, unknown>;
    expect(session).toMatchObject({
      principalName: "Olivia Owner",
      kind: "PRINCIPAL_KIND_MEMBER",
      role: "ROLE_OWNER",
      workspaceId: server.principals.workspaceId,
      workspaceName: "Acme",
      method: "SIGN_IN_METHOD_TOKEN",
    });
    expect(session.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const remaining = Date.parse(session.expireTime as string) - Date.now();
    expect(remaining).toBeGreaterThan(11 * 3600_000);
    expect(remaining).toBeLessThanOrEqual(12 * 3600_000);
    // The body never holds the cookie's secret, nor the principal token.
    expect(JSON.stringify(res.body)).not.toContain(cookie.value);
    expect(JSON.stringify(res.body)).not.toContain(server.principals.owner);
  });

  it.each([
    ["admin", Role.ADMIN, PrincipalKind.MEMBER],
    ["member", Role.MEMBER, PrincipalKind.MEMBER],
    ["support", Role.UNSPECIFIED, PrincipalKind.SUPPORT],
  ] as const)("signs in %s staff (the page decides what each sees)", async (who, role, kind) => {
    const { session } = await signIn(server.httpUrl, server.principals[who]);
    expect([session.role, session.kind]).toEqual([role, kind]);
  });

  it("refuses a service token with PERMISSION_DENIED saying why, and starts no session", async () => {
    const serviceId = await principalIdOf(server.principals.service);
    const error = await failure(sessions({}).signIn({ token: server.principals.service }));
    expect(error.code).toBe(Code.PermissionDenied);
    expect(error.rawMessage).toMatch(/a service principal cannot sign in to the API keys page/);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from principal_tokens where principal_id = ${serviceId} and session_method is not null`.execute(server.app.db);
    expect(rows[0]!.n).toBe(0);
  });

  it.each([
    ["an empty token", "", /no token given; paste the whole principal token/],
    ["an API key", mintToken("ak"), /not a principal token \(it does not start with "akp_"\)/],
    ["a mistyped token", () => server.principals.owner.slice(0, 10) + (server.principals.owner[10] === "x" ? "y" : "x") + server.principals.owner.slice(11), /a character is mistyped/],
    ["garbage", "hello world", /not a principal token/],
    ["a token never issued", () => mintToken("akp"), /not valid or was revoked; check it, or ask an owner to mint you a new one/],
  ])("answers %s with UNAUTHENTICATED and what to do", async (_name, token, message) => {
    const error = await failure(sessions({}).signIn({ token: typeof token === "function" ? token() : token }));
    expect([Code[error.code], error.rawMessage]).toEqual([Code[Code.Unauthenticated], expect.stringMatching(message)]);
  });

  it("refuses a revoked token", async () => {
    const minted = await mintMember("Revoked Rita");
    await server.operate("tokens", "revoke", "--principal", minted.principalId);
    const error = await failure(sessions({}).signIn({ token: minted.token }));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(error.rawMessage).toMatch(/not valid or was revoked/);
  });

  it("refuses a sign-in from another site's page", async () => {
    for (const origin of ["https://evil.example", "null"]) {
      const error = await failure(sessions({ origin }).signIn({ token: server.principals.owner }));
      expect(error.code).toBe(Code.PermissionDenied);
      expect(error.rawMessage).toMatch(/another site .* open the API keys page on 127\.0\.0\.1:\d+ itself/);
    }
    // The page's own origin is fine.
    await sessions({ origin: server.httpUrl }).signIn({ token: server.principals.owner });
  });
});

describe("GetSession", () => {
  it("describes the caller by the cookie, with the CSRF token and the expiry", async () => {
    const signedIn = await signIn(server.httpUrl, server.principals.admin);
    const { session } = await signedInClient(SessionService, server.httpUrl, signedIn).getSession({});
    expect(session).toMatchObject({ principalName: "Ada Admin", role: Role.ADMIN, workspaceName: "Acme", method: SignInMethod.TOKEN, csrfToken: signedIn.session.csrfToken });
    expect(session!.expireTime).toEqual(signedIn.session.expireTime);
    // NO_SIDE_EFFECTS: no CSRF token needed.
    const withoutCsrf = await sessions({ cookie: signedIn.cookie }).getSession({});
    expect(withoutCsrf.session!.principalId).toBe(session!.principalId);
  });

  it("describes the caller by a bearer token, without CSRF token or expiry", async () => {
    const { session } = await sessions({ bearer: server.principals.admin }).getSession({});
    expect(session).toMatchObject({ principalName: "Ada Admin", role: Role.ADMIN, csrfToken: "", method: SignInMethod.UNSPECIFIED });
    expect(session!.expireTime).toBeUndefined();
  });

  it("answers without any credential UNAUTHENTICATED, naming both ways in", async () => {
    const error = await failure(sessions({}).getSession({}));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(error.rawMessage).toMatch(/authorization: Bearer <token>", or sign in/);
  });

  it.each([
    ["garbage", "apikeys_session=garbage"],
    ["a session never issued", () => `apikeys_session=${mintToken("aks")}`],
    ["a principal token (not a session)", () => `apikeys_session=${server.principals.owner}`],
    ["a malformed escape", "apikeys_session=%E0%A4%A"],
  ])("answers a cookie holding %s UNAUTHENTICATED, says to sign in again, and clears it (curl)", async (_name, cookie) => {
    const res = await curl(`${server.httpUrl}/apikeys.v1.SessionService/GetSession`, {}, { cookie: typeof cookie === "function" ? cookie() : cookie });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ code: "unauthenticated", message: expect.stringMatching(/sign in again/) });
    expect(res.setCookies.map((c) => parseSetCookie(c))).toEqual([expect.objectContaining({ name: "apikeys_session", value: "", maxAge: 0, path: "/" })]);
  });

  it("does not take a session's cookie value as a bearer token", async () => {
    const signedIn = await signIn(server.httpUrl, server.principals.owner);
    // Warm the cache with the session first: a cached session must not pass as a bearer token either.
    await sessions({ cookie: signedIn.cookie }).getSession({});
    expect((await failure(sessions({ bearer: signedIn.token }).getSession({}))).code).toBe(Code.Unauthenticated);
  });

  it("believes the authorization header when a call carries both", async () => {
    const owner = await signIn(server.httpUrl, server.principals.owner);
    const { session } = await sessions({ cookie: owner.cookie, bearer: server.principals.member }).getSession({});
    expect(session!.principalName).toBe("Max Member");
    // The member's bearer token decides: listing keys is refused although the owner's cookie is there.
    expect((await failure(keysFor({ cookie: owner.cookie, csrf: owner.session.csrfToken, bearer: server.principals.member }).listApiKeys({}))).code).toBe(Code.PermissionDenied);
    // And a bad bearer token is not rescued by a good cookie.
    expect((await failure(sessions({ cookie: owner.cookie, bearer: mintToken("akp") }).getSession({}))).code).toBe(Code.Unauthenticated);
  });
});

describe("GetSignInOptions", () => {
  it("needs no credential, and offers no OpenID Connect sign-in when none is configured", async () => {
    const res = await sessions({}).getSignInOptions({});
    expect(res.oidc).toBeUndefined();
    // A broken cookie does not stand in the way either.
    expect((await sessions({ cookie: "apikeys_session=garbage" }).getSignInOptions({})).oidc).toBeUndefined();
  });
});

describe("CSRF protection", () => {
  let owner: SignedIn;
  beforeAll(async () => {
    owner = await signIn(server.httpUrl, server.principals.owner);
  });
  const keyCount = async () => (await server.apiKeys(server.principals.owner).listApiKeys({ pageSize: 1000 })).apiKeys.length;

  it.each([
    ["without x-csrf-token", undefined, /without the x-csrf-token header; reload the page/],
    ["with another session's x-csrf-token", "other", /does not match this session .*; reload the page/],
    ["with an empty x-csrf-token", "", /does not match this session/],
  ])("refuses a state-changing call made with the cookie %s, and changes nothing", async (_name, csrf, message) => {
    const other = csrf === "other" ? (await signIn(server.httpUrl, server.principals.owner)).session.csrfToken : csrf;
    const before = await keyCount();
    const error = await failure(keysFor({ cookie: owner.cookie, csrf: other }).createApiKey({ name: "Forged", access: AccessLevel.FULL }));
    expect([error.code, error.rawMessage]).toEqual([Code.PermissionDenied, expect.stringMatching(message)]);
    expect(await keyCount()).toBe(before);
  });

  it("refuses a forged call with curl too, as a cross-site form post would be", async () => {
    const before = await keyCount();
    const res = await curl(`${server.httpUrl}/apikeys.v1.ApiKeyService/CreateApiKey`, { name: "Forged", access: "ACCESS_LEVEL_FULL" }, { cookie: owner.cookie });
    expect([res.status, res.body.code]).toEqual([403, "permission_denied"]);
    expect(await keyCount()).toBe(before);
  });

  it("lets a call that changes nothing through without the token", async () => {
    expect((await keysFor({ cookie: owner.cookie }).listScopes({})).scopes.length).toBeGreaterThan(0);
  });

  it("needs no token with a bearer token", async () => {
    const { apiKey } = await keysFor({ bearer: server.principals.owner }).createApiKey({ name: "Bearer no CSRF", access: AccessLevel.FULL });
    expect(apiKey!.name).toBe("Bearer no CSRF");
  });

  it("refuses every call with the cookie from another site's page (Origin), even one that changes nothing", async () => {
    const before = await keyCount();
    for (const origin of ["https://evil.example", `http://localhost:${server.app.httpPort}`, "null"]) {
      const forged = { cookie: owner.cookie, csrf: owner.session.csrfToken, origin };
      const create = await failure(keysFor(forged).createApiKey({ name: "Forged", access: AccessLevel.FULL }));
      expect([create.code, create.rawMessage]).toEqual([Code.PermissionDenied, expect.stringMatching(/from another site .* reload it/)]);
      expect((await failure(keysFor(forged).listApiKeys({}))).code).toBe(Code.PermissionDenied);
    }
    expect(await keyCount()).toBe(before);
    // The page's own origin passes.
    const same = { cookie: owner.cookie, csrf: owner.session.csrfToken, origin: server.httpUrl };
    expect((await keysFor(same).createApiKey({ name: "Same origin", access: AccessLevel.FULL })).apiKey!.name).toBe("Same origin");
  });
});

describe("SignOut", () => {
  it("ends the session on the server and clears the cookie; the old cookie, replayed, no longer works", async () => {
    const signedIn = await signIn(server.httpUrl, server.principals.owner);
    const keys = signedInClient(ApiKeyService, server.httpUrl, signedIn);
    expect((await keys.listScopes({})).scopes.length).toBeGreaterThan(0); // cached now
    // SignOut changes something: it needs the CSRF token, or another site could sign people out.
    expect((await failure(sessions({ cookie: signedIn.cookie }).signOut({}))).code).toBe(Code.PermissionDenied);
    let cleared: string | undefined;
    await signedInClient(SessionService, server.httpUrl, signedIn).signOut({}, { onHeader: (h) => (cleared = h.getSetCookie()[0]) });
    expect(parseSetCookie(cleared!)).toMatchObject({ name: "apikeys_session", value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: "strict" });
    for (const call of [keys.listScopes({}), sessions({ cookie: signedIn.cookie }).getSession({}), signedInClient(SessionService, server.httpUrl, signedIn).signOut({})]) {
      const error = await failure(call);
      expect([error.code, error.rawMessage]).toEqual([Code.Unauthenticated, expect.stringMatching(/signed out or revoked.*sign in again/)]);
    }
    // Another session of the same principal goes on.
    const other = await signIn(server.httpUrl, server.principals.owner);
    expect((await signedInClient(SessionService, server.httpUrl, other).getSession({})).session!.principalName).toBe("Olivia Owner");
  });

  it("with a bearer token, says there is no session to end", async () => {
    const error = await failure(sessions({ bearer: server.principals.owner }).signOut({}));
    expect([error.code, error.rawMessage]).toEqual([Code.FailedPrecondition, expect.stringMatching(/no session to end/)]);
  });
});

/** A new admin of the first workspace and its token (each revocation test needs its own principal). */
async function mintMember(name: string) {
  return addPrincipal(server.app.db, createHasher(server.config.argon2), { kind: "member", role: "admin", name, workspaceId: server.principals.workspaceId });
}

describe("revocation", () => {
  it("`apikeys tokens revoke --principal` ends the principal's sessions", async () => {
    const admin = await mintMember("Leaving Admin");
    const signedIn = await signIn(server.httpUrl, admin.token);
    const client = signedInClient(SessionService, server.httpUrl, signedIn);
    expect((await client.getSession({})).session!.principalName).toBe("Leaving Admin");
    const { stderr } = await server.operate("tokens", "revoke", "--principal", admin.principalId);
    expect(stderr).toContain(`revoked 1 token(s) and ended 1 browser session(s) of ${admin.principalId}`);
    const error = await failure(client.getSession({}));
    expect([error.code, error.rawMessage]).toEqual([Code.Unauthenticated, expect.stringMatching(/sign in again/)]);
  });
});

describe("how many sessions a principal holds", () => {
  it(`at most ${MAX_SESSIONS_PER_PRINCIPAL}: a sign-in beyond them ends the oldest (whose cookie was cached), and the rest go on`, async () => {
    const admin = await mintMember("Looping Admin");
    const first = await signIn(server.httpUrl, admin.token);
    const firstClient = signedInClient(SessionService, server.httpUrl, first);
    expect((await firstClient.getSession({})).session!.principalName).toBe("Looping Admin"); // cached now
    const second = await signIn(server.httpUrl, admin.token);
    for (let i = 2; i < MAX_SESSIONS_PER_PRINCIPAL; i++) await signIn(server.httpUrl, admin.token);
    expect((await firstClient.getSession({})).session!.principalName).toBe("Looping Admin");
    const latest = await signIn(server.httpUrl, admin.token);

    const error = await failure(firstClient.getSession({}));
    expect([error.code, error.rawMessage]).toEqual([Code.Unauthenticated, expect.stringMatching(/signed out or revoked.*sign in again/)]);
    for (const kept of [second, latest]) expect((await signedInClient(SessionService, server.httpUrl, kept).getSession({})).session!.principalName).toBe("Looping Admin");
    const active = await server.app.db
      .selectFrom("principal_tokens")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("principal_id", "=", admin.principalId)
      .where("session_method", "is not", null)
      .where("revoked_at", "is", null)
      .executeTakeFirstOrThrow();
    expect(Number(active.n)).toBe(MAX_SESSIONS_PER_PRINCIPAL);
  });
});

describe("every ApiKeyService call, through the cookie", () => {
  /** A key's whole life through `client`, as comparable values (no ids, times or secrets). */
  async function lifeOfAKey(client: Client<typeof ApiKeyService>, name: string) {
    const scopes = (await client.listScopes({})).scopes.map((s) => s.name);
    const created = await client.createApiKey({ name, access: AccessLevel.CUSTOM, scopes: ["orders:read"] });
    const id = created.apiKey!.id;
    const got = (await client.getApiKey({ id })).apiKey!;
    const listed = (await client.listApiKeys({ pageSize: 1000 })).apiKeys.some((k) => k.id === id);
    const updated = (await client.updateApiKey({ apiKey: { id, name: `${name} (renamed)`, etag: got.etag }, updateMask: create(FieldMaskSchema, { paths: ["name"] }) })).apiKey!;
    const verified = await client.verifyApiKey({ key: created.secret, requiredScopes: ["orders:read"] });
    const rotated = await client.rotateApiKey({ id });
    const audit = (await client.listAuditEvents({ apiKeyId: id })).events.map((e) => [AuditAction[e.action], e.actorName]);
    await client.deleteApiKey({ id });
    const afterDelete = await failure(client.getApiKey({ id }));
    return {
      scopes,
      created: [created.apiKey!.name, AccessLevel[created.apiKey!.access], created.apiKey!.scopes, created.secret.startsWith("ak_")],
      got: got.name,
      listed,
      updated: updated.name,
      verified: VerificationStatus[verified.status],
      rotated: rotated.secret !== created.secret && rotated.secret.startsWith("ak_"),
      audit,
      afterDelete: Code[afterDelete.code],
    };
  }

  it.each(["owner", "admin"] as const)("works for the %s exactly as with a bearer token", async (who) => {
    const signedIn = await signIn(server.httpUrl, server.principals[who]);
    const byCookie = await lifeOfAKey(signedInClient(ApiKeyService, server.httpUrl, signedIn), `Cookie ${who}`);
    const byBearer = await lifeOfAKey(keysFor({ bearer: server.principals[who] }), `Cookie ${who}`);
    expect(byCookie).toEqual(byBearer);
    expect(byCookie.verified).toBe("VALID");
    expect(byCookie.audit.map(([action]) => action)).toEqual(["ROTATE", "UPDATE", "CREATE"]);
  });

  it("refuses a member through the cookie as through a bearer token", async () => {
    const member = await signIn(server.httpUrl, server.principals.member);
    const error = await failure(signedInClient(ApiKeyService, server.httpUrl, member).listApiKeys({}));
    expect([error.code, error.rawMessage]).toEqual([Code.PermissionDenied, expect.stringMatching(/only workspace owners and admins/)]);
  });
});

describe("secrets", () => {
  it("the session's secret and the token signed in with appear neither in the server's log nor in the database", async () => {
    const minted = await mintMember("Secretive Sam");
    const signedIn = await signIn(server.httpUrl, minted.token);
    const client = signedInClient(ApiKeyService, server.httpUrl, signedIn);
    await client.listApiKeys({});
    await failure(keysFor({ cookie: signedIn.cookie }).createApiKey({ name: "No CSRF", access: AccessLevel.FULL }));
    await failure(keysFor({ cookie: signedIn.cookie, csrf: signedIn.session.csrfToken, origin: "https://evil.example" }).listApiKeys({}));
    await signedInClient(SessionService, server.httpUrl, signedIn).signOut({});
    await failure(client.listApiKeys({}));
    const secret = signedIn.token.slice(4 + 12, 4 + 12 + 32);
    const logs = server.logs.join("\n");
    expect(logs).toContain("SessionService/SignOut"); // the calls were logged
    for (const needle of [signedIn.token, secret, minted.token]) expect(logs).not.toContain(needle);
    // Every row of every table, as text.
    const { rows: tables } = await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = 'public'`.execute(server.app.db);
    let dump = "";
    for (const { name } of tables) {
      const { rows } = await sql<{ row: string }>`select row_to_json(t)::text as row from ${sql.table(name)} t`.execute(server.app.db);
      dump += rows.map((r) => r.row).join("\n");
    }
    const sessionId = signedIn.token.slice(4, 16);
    expect(dump).toContain(sessionId); // the session's row is there, by its public id
    expect(dump).toMatch(/"session_method":"token"/);
    for (const needle of [signedIn.token, secret, minted.token]) expect(dump).not.toContain(needle);
    const { rows } = await sql<{ hash: string }>`select hash from principal_tokens where id = ${sessionId}`.execute(server.app.db);
    // argon2id at the cost configured for high-entropy secrets, as for every token.
    expect(rows[0]!.hash).toMatch(/^\$argon2id\$/);
    expect(createHasher(server.config.argon2).needsRehash(rows[0]!.hash)).toBe(false);
  });
});

describe("expiry", () => {
  let short: TestServer;
  beforeAll(async () => {
    short = await startTestServer({ APIKEYS_SESSION_TTL_MS: "3000" });
  });
  afterAll(() => short?.stop());

  it("a session ends after APIKEYS_SESSION_TTL_MS: Max-Age says so, and then the cookie answers 'expired, sign in again'", async () => {
    const signedIn = await signIn(short.httpUrl, short.principals.owner);
    expect(parseSetCookie(signedIn.setCookie).maxAge).toBe(3);
    const client = signedInClient(SessionService, short.httpUrl, signedIn);
    expect((await client.getSession({})).session!.principalName).toBe("Olivia Owner");
    // Waits for the condition, not for a fixed time: the cached session must not outlive it.
    const error = await vi.waitFor(() => failure(client.getSession({})), { timeout: 60_000, interval: 200 });
    expect([error.code, error.rawMessage]).toEqual([Code.Unauthenticated, expect.stringMatching(/^your session expired at .*; sign in again$/)]);
    expect(Date.now()).toBeGreaterThanOrEqual(Number(signedIn.session.expireTime!.seconds) * 1000);
  });
});

describe("configuration", () => {
  it("sessions last 12 hours unless APIKEYS_SESSION_TTL_MS says otherwise, within 1 s to 30 days", () => {
    expect(loadConfig({}).sessionTtlMs).toBe(12 * 3600_000);
    expect(loadConfig({ APIKEYS_SESSION_TTL_MS: "60000" }).sessionTtlMs).toBe(60_000);
    expect(() => loadConfig({ APIKEYS_SESSION_TTL_MS: "999" })).toThrow(/APIKEYS_SESSION_TTL_MS must be an integer from 1000 to 2592000000/);
  });

  it("the key prefix cannot be the sessions' own", () => {
    expect(() => loadConfig({ APIKEYS_KEY_PREFIX: "aks" })).toThrow(/APIKEYS_KEY_PREFIX must be .* not "akp" or "aks"/);
  });
});

describe("over TLS", () => {
  let certificate: TestCertificate;
  let tls: TestServer;
  beforeAll(async () => {
    certificate = await makeCertificate();
    tls = await startTestServer({ APIKEYS_TLS_CERT: certificate.certFile, APIKEYS_TLS_KEY: certificate.keyFile });
  });
  afterAll(async () => {
    await tls?.stop();
    await certificate?.remove();
  });

  it.each([["HTTP/1.1", "--http1.1"], ["HTTP/2", "--http2"]])("the cookie is Secure (%s, curl), and so is the one that clears it", async (_name, flag) => {
    const base = `https://127.0.0.1:${tls.app.httpPort}/apikeys.v1.SessionService`;
    const signedIn = await curl(`${base}/SignIn`, { token: tls.principals.owner }, {}, [flag, "--cacert", certificate.certFile]);
    const cookie = parseSetCookie(signedIn.setCookies[0]!);
    expect(cookie).toMatchObject({ name: "apikeys_session", secure: true, httpOnly: true, sameSite: "strict", path: "/" });
    const csrf = (signedIn.body.session as { csrfToken: string }).csrfToken;
    const headers = { cookie: `apikeys_session=${cookie.value}`, "x-csrf-token": csrf, origin: `https://127.0.0.1:${tls.app.httpPort}` };
    const got = await curl(`${base}/GetSession`, {}, headers, [flag, "--cacert", certificate.certFile]);
    expect(got.body.session).toMatchObject({ principalName: "Olivia Owner", csrfToken: csrf });
    const out = await curl(`${base}/SignOut`, {}, headers, [flag, "--cacert", certificate.certFile]);
    expect(out.status).toBe(200);
    expect(parseSetCookie(out.setCookies[0]!)).toMatchObject({ name: "apikeys_session", value: "", maxAge: 0, secure: true });
  });
});

describe("behind a proxy that terminates TLS (APIKEYS_PUBLIC_URL is https)", () => {
  let proxied: TestServer;
  beforeAll(async () => {
    // OpenID Connect's configuration only: its provider is contacted when a sign-in starts, never here.
    proxied = await startTestServer({
      APIKEYS_PUBLIC_URL: "https://keys.example.com",
      APIKEYS_OIDC_ISSUER: "https://login.example.com",
      APIKEYS_OIDC_CLIENT_ID: "apikeys",
      APIKEYS_OIDC_CLIENT_SECRET: "s3cret",
      APIKEYS_OIDC_WORKSPACE_CLAIM: "workspace",
      APIKEYS_OIDC_OWNER_VALUES: "keys-owners",
    });
  });
  afterAll(() => proxied?.stop());

  it("the cookie is Secure, as the OpenID Connect attempt cookie set beside it is, and so is the one that clears it", async () => {
    const base = `${proxied.httpUrl}/apikeys.v1.SessionService`;
    const signedIn = await curl(`${base}/SignIn`, { token: proxied.principals.owner });
    expect(parseSetCookie(signedIn.setCookies[0]!)).toMatchObject({ name: "apikeys_session", secure: true, httpOnly: true, sameSite: "strict" });
    const refused = await curl(`${base}/GetSession`, {}, { cookie: "apikeys_session=aks_notasession" });
    expect(refused.status).toBe(401);
    expect(parseSetCookie(refused.setCookies[0]!)).toMatchObject({ name: "apikeys_session", value: "", maxAge: 0, secure: true });
  });
});
