// The apikeys CLI: bootstrap prints the first owner's token once, alone on stdout, and the other
// commands mint working tokens and explain their mistakes.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase } from "../server/db/database.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { startTestServer, TEST_ARGON2_ENV, type TestServer } from "./support/test-server.js";

const exec = promisify(execFile);
let database: TestDatabase;
let server: TestServer;
beforeAll(async () => {
  database = await createTestDatabase();
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
  await database?.drop();
});

function cli(args: string[], url = database.url) {
  return exec("bin/apikeys", args, { env: { ...process.env, DATABASE_URL: url, ...TEST_ARGON2_ENV, APIKEYS_LOG_LEVEL: "warn" } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

describe("apikeys CLI", () => {
  it("bootstrap migrates, creates the first workspace and owner, and prints only the token on stdout", async () => {
    const res = await cli(["bootstrap", "--workspace", "Acme", "--owner", "ada@example.com"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^akp_[0-9A-Za-z]{50}\n$/);
    expect(res.stderr).toMatch(/created workspace ws_\w{12} and its owner pr_\w{12}/);
    const db = createDatabase(database.url, 1);
    try {
      const owner = await db.selectFrom("principals").selectAll().executeTakeFirstOrThrow();
      expect(owner).toMatchObject({ kind: "member", role: "owner", name: "ada@example.com" });
      const hashes = await db.selectFrom("principal_tokens").select("hash").execute();
      expect(hashes.map((h) => h.hash).join()).not.toContain(res.stdout.trim().slice(16, 48));
    } finally {
      await db.destroy();
    }
  });

  it("bootstrap refuses to run twice", async () => {
    const res = await cli(["bootstrap", "--workspace", "Again", "--owner", "bob"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("already bootstrapped; use `apikeys workspaces add`");
  });

  it("members add mints a token that works against the server with the given role", async () => {
    const res = await cli(["members", "add", "--workspace", server.principals.workspaceId, "--name", "Mia", "--role", "member"], server.app.databaseUrl);
    expect(res.code).toBe(0);
    const token = res.stdout.trim();
    expect((await server.apiKeys(token).listScopes({})).scopes.length).toBeGreaterThan(0);
    await expect(server.apiKeys(token).listApiKeys({})).rejects.toThrow(/only workspace owners and admins/);
  });

  it("principals list and scopes list print a header line, then one tab-separated row per entry", async () => {
    const principals = await cli(["principals", "list"]);
    expect(principals.code).toBe(0);
    const [header, ...rows] = principals.stdout.trimEnd().split("\n");
    expect(header).toBe("id\tkind\trole\tworkspace\tname");
    expect(rows.map((row) => row.split("\t"))).toContainEqual([expect.stringMatching(/^pr_/), "member", "owner", expect.stringMatching(/^ws_/), "ada@example.com"]);
    // Read as the README says: skip the header, pick columns.
    const { stdout: owners } = await exec("bash", ["-c", `bin/apikeys principals list | awk -F'\\t' 'NR > 1 && $3 == "owner" {print $5}'`], {
      env: { ...process.env, DATABASE_URL: database.url, ...TEST_ARGON2_ENV, APIKEYS_LOG_LEVEL: "warn" },
    });
    expect(owners).toBe("ada@example.com\n");
    const scopes = await cli(["scopes", "list"], server.app.databaseUrl);
    const [scopesHeader, ...scopeRows] = scopes.stdout.trimEnd().split("\n");
    expect(scopesHeader).toBe("name\tdescription");
    expect(scopeRows.length).toBeGreaterThan(0);
    for (const row of scopeRows) expect(row.split("\t")[0]).toMatch(/^[a-z]+:[a-z]+$/);
  });

  it("explains a missing option and an unknown command with exit code 2", async () => {
    const missing = await cli(["members", "add", "--workspace", "ws_x", "--name", "x"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing --role");
    const unknown = await cli(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    expect(unknown.stderr).toContain("usage: apikeys");
  });

  it("checks arguments before touching any database", async () => {
    const dataDir = path.join(tmpdir(), `apikeys-never-${process.pid}`);
    const env = { ...process.env, DATABASE_URL: "", APIKEYS_DATA_DIR: dataDir };
    const badRole = await exec("bin/apikeys", ["members", "add", "--workspace", "ws_x", "--name", "x", "--role", "boss"], { env }).catch((e: { code: number; stderr: string }) => e);
    expect(badRole).toMatchObject({ code: 2, stderr: expect.stringContaining("--role must be owner, admin or member") });
    const badOption = await exec("bin/apikeys", ["scopes", "list", "--colour"], { env }).catch((e: { code: number; stderr: string }) => e);
    expect(badOption).toMatchObject({ code: 2, stderr: expect.stringContaining("--colour") });
    expect(existsSync(dataDir)).toBe(false);
  });

  it("refuses an invalid configuration, naming the variable", async () => {
    const res = await exec("bin/apikeys", ["scopes", "list"], { env: { ...process.env, APIKEYS_KEY_PREFIX: "Bad-Prefix" } }).catch((e: { code: number; stderr: string }) => e);
    expect((res as { code: number }).code).toBe(2);
    expect((res as { stderr: string }).stderr).toContain("APIKEYS_KEY_PREFIX must be");
  });
});
