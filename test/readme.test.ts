// The README's examples, run verbatim in bash against a started server: only the two port numbers
// are replaced by the test server's.
import { execFile } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONFIG_VARIABLES } from "../server/config.js";
import { LEGACY_MAX_LENGTH, LEGACY_MIN_LENGTH } from "../server/legacy/legacy-hint.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { startServeProcess, type ServeProcess } from "./support/serve-process.js";
import { TEST_ARGON2_ENV } from "./support/test-server.js";

const exec = promisify(execFile);
let database: TestDatabase;
let server: ServeProcess;
beforeAll(async () => {
  database = await createTestDatabase();
  server = await startServeProcess({ DATABASE_URL: database.url, ...TEST_ARGON2_ENV });
});
afterAll(async () => {
  await server?.stop();
  await database?.drop();
  await rm("created.json", { force: true });
});

async function readmeScript(): Promise<string> {
  const readme = await readFile("README.md", "utf8");
  const section = readme.split("<!-- readme-test:begin -->")[1]!.split("<!-- readme-test:end -->")[0]!;
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(blocks.length).toBeGreaterThanOrEqual(6);
  return blocks.join("\n").replaceAll("127.0.0.1:8080", `127.0.0.1:${server.httpPort}`).replaceAll("127.0.0.1:50051", `127.0.0.1:${server.grpcPort}`);
}

describe("README", () => {
  it("bootstrap, create, list, update, buf curl verify and delete work as written", async () => {
    const script = await readmeScript();
    const after = `
echo
curl -sS http://127.0.0.1:${server.httpPort}/apikeys.v1.ApiKeyService/VerifyApiKey \\
  -H "authorization: Bearer $SERVICE_TOKEN" -H "content-type: application/json" -d "{\\"key\\": \\"$SECRET\\"}"`;
    const { stdout } = await exec("bash", ["-euo", "pipefail", "-c", script + after], {
      env: { ...process.env, DATABASE_URL: database.url, ...TEST_ARGON2_ENV, APIKEYS_LOG_LEVEL: "warn" },
    });
    expect(stdout).toContain('"name":"Snowflake production export"');
    expect(stdout).toContain('"name":"Snowflake production orders export"');
    expect(stdout).toMatch(/"valid": true,\s+"status": "VERIFICATION_STATUS_VALID"/);
    expect(JSON.parse(stdout.trimEnd().split("\n").pop()!)).toMatchObject({ valid: false, status: "VERIFICATION_STATUS_REVOKED" });
  });

  it("runs the CLI so that $(…) captures only its output: bin/apikeys, or npm run --silent", async () => {
    const readme = await readFile("README.md", "utf8");
    expect(readme).not.toMatch(/\$\(npm run (?!--silent)/);
    const { stdout } = await exec("npm", ["run", "--silent", "apikeys", "--", "scopes", "list"], {
      env: { ...process.env, DATABASE_URL: database.url, APIKEYS_LOG_LEVEL: "warn" },
    });
    expect(stdout.split("\n")[0]).toBe("name\tdescription");
  });

  it("documents the CLI's limits: legacy import's secret length", async () => {
    const readme = await readFile("README.md", "utf8");
    expect(readme).toContain(`${LEGACY_MIN_LENGTH}–${LEGACY_MAX_LENGTH} printable ASCII characters`);
  });

  it("documents every configuration variable", async () => {
    const readme = await readFile("README.md", "utf8");
    for (const name of CONFIG_VARIABLES) expect(readme).toContain(`\`${name}\``);
  });
});
