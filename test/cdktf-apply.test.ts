// A CDKTF example as a platform team runs it: synthesize cdktf-examples/command-store, then
// `terraform init`, a saved plan and `apply` with the provider built from this checkout, against
// a real server. The secrets the command store wrote must verify over gRPC with exactly the
// declared scopes, and appear nowhere in the synthesized JSON, the plan file or the state.
import { execFile } from "node:child_process";
import { readFile, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { parseToken } from "../contract/key-format.js";
import { removeTempDirs, tempDir } from "./support/temp-dir.js";
import { buildProvider, terraformDir, type TerraformDir } from "./support/terraform.js";
import { readZipEntries } from "./support/zip.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const run = promisify(execFile);
const TOKEN = /ak_[0-9A-Za-z]{50}/;

let server: TestServer;
let work: string;
let tf: TerraformDir;

beforeAll(async () => {
  let cliConfig: string;
  work = tempDir("apikeys-cdktf-");
  [server, cliConfig] = await Promise.all([startTestServer(), buildProvider()]);
  await run(path.resolve("node_modules/.bin/tsx"), ["main.ts"], {
    cwd: "cdktf-examples/command-store",
    env: {
      ...process.env,
      CDKTF_OUTDIR: path.join(work, "cdktf.out"),
      STACK_NAME: "command-store",
      STATE_PATH: path.join(work, "terraform.tfstate"),
      SECRETS_DIR: path.join(work, "secrets"),
    },
  });
  tf = await terraformDir(cliConfig, { APIKEYS_ENDPOINT: server.httpUrl, APIKEYS_TOKEN: server.principals.owner }, path.join(work, "cdktf.out", "stacks", "command-store"));
});
afterAll(() => server?.stop());
afterAll(removeTempDirs);

const verify = (key: string, requiredScopes: string[]) => server.apiKeys(server.principals.service, "grpc").verifyApiKey({ key, requiredScopes });
const secret = (file: string) => readFile(path.join(work, "secrets", file), "utf8");

describe("cdktf-examples/command-store", () => {
  it("when synthesized and applied, writes each key's secret through the command, mode 600", async () => {
    await tf.ok("init", "-no-color");
    await tf.ok("plan", "-no-color", "-out=keys.tfplan");
    expect(await tf.ok("apply", "-no-color", "-auto-approve")).toContain("Apply complete!");
    const files = (await readdir(path.join(work, "secrets"))).sort();
    expect(files).toEqual(["datadog-production-metrics.key", "github-actions-staging-deploy.key", "snowflake-production-export.key"]);
    for (const file of files) {
      expect(await secret(file)).toMatch(new RegExp(`^${TOKEN.source}$`));
      expect((await stat(path.join(work, "secrets", file))).mode & 0o777).toBe(0o600);
    }
  });

  it("the secrets verify over gRPC with exactly the declared scopes", async () => {
    const snowflake = await secret("snowflake-production-export.key");
    expect((await verify(snowflake, ["reports:export", "orders:read"])).status).toBe(VerificationStatus.VALID);
    expect((await verify(snowflake, ["orders:write"])).status).toBe(VerificationStatus.INSUFFICIENT_SCOPE);
    const datadog = await secret("datadog-production-metrics.key");
    expect((await verify(datadog, ["orders:read"])).status).toBe(VerificationStatus.VALID);
    expect((await verify(datadog, ["reports:export"])).status).toBe(VerificationStatus.INSUFFICIENT_SCOPE);
    const github = await secret("github-actions-staging-deploy.key");
    expect((await verify(github, ["orders:write", "customers:write"])).status).toBe(VerificationStatus.VALID);
    const names = (await server.apiKeys(server.principals.owner).listApiKeys({ pageSize: 100 })).apiKeys.map((k) => k.name).sort();
    expect(names).toEqual(["Datadog production metrics", "GitHub Actions staging deploy", "Snowflake production data warehouse export"]);
  });

  it("no secret is in the synthesized JSON, the saved plan or the state", async () => {
    const secrets = await Promise.all((await readdir(path.join(work, "secrets"))).map(secret));
    expect(secrets).toHaveLength(3);
    // The 32-character secret part of each token (after "ak_" and the 12-character key id).
    const secretParts = secrets.map((s) => parseToken(s.trim(), "ak")?.secret ?? "");
    for (const part of secretParts) expect(part).toHaveLength(32);
    // The saved plan is a zip of deflated entries: search each entry decompressed, not the raw bytes.
    const plan = await readZipEntries(path.join(tf.dir, "keys.tfplan"));
    expect(plan.has("tfplan")).toBe(true);
    const artifacts: [string, string][] = [
      ["cdk.tf.json", await readFile(path.join(tf.dir, "cdk.tf.json"), "latin1")],
      ...[...plan].map(([name, content]): [string, string] => [`keys.tfplan:${name}`, content.toString("latin1")]),
      ["show -json keys.tfplan", await tf.ok("show", "-json", "keys.tfplan")],
      ["terraform.tfstate", await readFile(path.join(work, "terraform.tfstate"), "latin1")],
      ["show -json", await tf.ok("show", "-json")],
    ];
    for (const [where, text] of artifacts) {
      expect(text, where).not.toMatch(TOKEN);
      for (const part of secretParts) expect(text, where).not.toContain(part);
    }
  });

  it("a second plan shows no changes", async () => {
    const plan = await tf.run("plan", "-no-color", "-detailed-exitcode");
    expect(plan.stdout).toContain("No changes.");
    expect(plan.code).toBe(0);
  });
});
