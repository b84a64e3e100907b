// The provider's acceptance tests: the real terraform binary, the provider built from this
// checkout, and a real server on real Postgres. One key walks its whole life: create with a
// client-minted secret, no changes, update in place, import, drift, rotation, destroy.
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { removeTempDirs } from "./support/temp-dir.js";
import { buildProvider, terraformDir, type TerraformDir } from "./support/terraform.js";
import { readZipEntries } from "./support/zip.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;
let cliConfig: string;
let tf: TerraformDir;

beforeAll(async () => {
  [server, cliConfig] = await Promise.all([startTestServer(), buildProvider()]);
  tf = await terraformDir(cliConfig, { APIKEYS_ENDPOINT: server.httpUrl, APIKEYS_TOKEN: server.principals.owner });
});
afterAll(() => server?.stop());
afterAll(removeTempDirs);

const TOKEN = /ak_[0-9A-Za-z]{50}/;
const owner = () => server.apiKeys(server.principals.owner);
/** Verification as a service does it: over the gRPC port (grpc-js). */
const verify = (key: string, requiredScopes: string[] = []) => server.apiKeys(server.principals.service, "grpc").verifyApiKey({ key, requiredScopes });

interface KeyConfig {
  name: string;
  scopes: string[];
  version: number;
}

/**
 * A key whose secret is minted locally and handed to a "secret store": a local-exec provisioner
 * that writes it to a file, the way a command store hands it to any CLI. The store is replaced
 * whenever the key is, so it always holds the current key's secret.
 */
const PROVIDER_BLOCK = `
terraform {
  required_providers {
    apikeys = { source = "apikeys.local/apikeys/apikeys" }
  }
}

provider "apikeys" {}
`;

function keyConfig(c: KeyConfig): string {
  return `${PROVIDER_BLOCK}
ephemeral "apikeys_key_material" "export" {}

resource "apikeys_api_key" "export" {
  name                 = ${JSON.stringify(c.name)}
  access               = "custom"
  scopes               = ${JSON.stringify(c.scopes)}
  secret_wo            = ephemeral.apikeys_key_material.export.token
  secret_wo_version    = ${c.version}
  grace_period_seconds = 10

  lifecycle {
    create_before_destroy = true
  }
}

resource "terraform_data" "store" {
  triggers_replace = [apikeys_api_key.export.id]

  provisioner "local-exec" {
    command     = "umask 077; printf '%s' \\"$SECRET\\" > secret.txt"
    environment = { SECRET = ephemeral.apikeys_key_material.export.token }
  }
}

output "key_id" {
  value = apikeys_api_key.export.id
}
`;
}

const stateOf = async () => JSON.parse(await tf.ok("show", "-json")) as { values: { root_module: { resources: { address: string; values: Record<string, unknown> }[] } } };
const keyState = async () => (await stateOf()).values.root_module.resources.find((r) => r.address === "apikeys_api_key.export")!.values;
const storedSecret = () => readFile(path.join(tf.dir, "secret.txt"), "utf8");
const files = async (...names: string[]) => (await Promise.all(names.map((n) => readFile(path.join(tf.dir, n), "latin1")))).join("\n");

describe("apikeys_api_key", () => {
  let keyId: string;
  let firstSecret: string;

  it("when applied, creates the key with the locally minted secret, which verifies over gRPC", async () => {
    await tf.write({ "main.tf": keyConfig({ name: "Snowflake production export", scopes: ["orders:read", "reports:export"], version: 1 }) });
    await tf.ok("init", "-no-color");
    await tf.ok("plan", "-no-color", "-out=create.tfplan");
    const applied = await tf.ok("apply", "-no-color", "-auto-approve");
    expect(applied).toContain("Apply complete! Resources: 2 added, 0 changed, 0 destroyed.");
    firstSecret = await storedSecret();
    expect(firstSecret).toMatch(TOKEN);
    keyId = (await keyState()).id as string;
    expect(firstSecret.slice(3, 15)).toBe(keyId);
    const verified = await verify(firstSecret, ["orders:read", "reports:export"]);
    expect(verified.status).toBe(VerificationStatus.VALID);
    expect((await verify(firstSecret, ["orders:write"])).status).toBe(VerificationStatus.INSUFFICIENT_SCOPE);
  });

  it("keeps the secret out of the state and the saved plan", async () => {
    const state = await files("terraform.tfstate");
    expect(state).not.toContain(firstSecret.slice(15, 47));
    expect(state).not.toMatch(TOKEN);
    // A plan file is a zip: search every entry, decompressed. (Ephemeral values are minted again
    // at apply, so any token here would be a leak of the plan-time one.)
    const plan = await readZipEntries(path.join(tf.dir, "create.tfplan"));
    expect([...plan.keys()]).toContain("tfplan");
    for (const [entry, bytes] of plan) expect(bytes.toString("latin1"), entry).not.toMatch(TOKEN);
    expect(await tf.ok("show", "-json", "create.tfplan")).not.toMatch(TOKEN);
    const values = await keyState();
    expect(values.secret_wo).toBeNull();
    expect(values.secret).toBeNull();
    expect(values.hint).toBe(`ak_${keyId}…${firstSecret.slice(-4)}`);
  });

  it("then plans no changes", async () => {
    const plan = await tf.run("plan", "-no-color", "-detailed-exitcode");
    expect(plan.stdout).toContain("No changes.");
    expect(plan.code).toBe(0);
  });

  it("updates name and scopes in place, keeping the key and its secret", async () => {
    await tf.write({ "main.tf": keyConfig({ name: "Snowflake production orders export", scopes: ["orders:read"], version: 1 }) });
    const applied = await tf.ok("apply", "-no-color", "-auto-approve");
    expect(applied).toContain("Resources: 0 added, 1 changed, 0 destroyed.");
    const { apiKey } = await owner().getApiKey({ id: keyId });
    expect(apiKey?.name).toBe("Snowflake production orders export");
    expect(apiKey?.scopes).toEqual(["orders:read"]);
    expect((await verify(firstSecret, ["orders:read"])).status).toBe(VerificationStatus.VALID);
    expect((await verify(firstSecret, ["reports:export"])).status).toBe(VerificationStatus.INSUFFICIENT_SCOPE);
    expect((await tf.run("plan", "-detailed-exitcode")).code).toBe(0);
  });

  it("imports by id into the same attributes, and then plans no changes", async () => {
    const imported = await terraformDir(cliConfig, { APIKEYS_ENDPOINT: server.httpUrl, APIKEYS_TOKEN: server.principals.owner });
    // Managing an existing key's metadata: no secret_wo, since Terraform never knew its secret.
    await imported.write({
      "main.tf": `${PROVIDER_BLOCK}
resource "apikeys_api_key" "export" {
  name   = "Snowflake production orders export"
  access = "custom"
  scopes = ["orders:read"]
}
`,
    });
    await imported.ok("init", "-no-color");
    expect(await imported.ok("import", "-no-color", "apikeys_api_key.export", keyId)).toContain("Import successful!");
    const original = await keyState();
    const show = JSON.parse(await imported.ok("show", "-json")) as Awaited<ReturnType<typeof stateOf>>;
    const copy = show.values.root_module.resources.find((r) => r.address === "apikeys_api_key.export")!.values;
    for (const attribute of ["id", "name", "access", "scopes", "hint", "created_at", "updated_at", "secret_version", "secret"]) {
      expect(copy[attribute], attribute).toEqual(original[attribute]);
    }
    const plan = await imported.run("plan", "-no-color", "-detailed-exitcode");
    expect(plan.stdout).toContain("No changes.");
    expect(plan.code).toBe(0);
    // With secret_wo, the first apply replaces the imported key, so its stores get a known secret
    // (test/provider-import.test.ts applies it).
    await imported.write({ "main.tf": keyConfig({ name: "Snowflake production orders export", scopes: ["orders:read"], version: 1 }) });
    const adopt = await imported.run("plan", "-no-color");
    expect(adopt.code).toBe(0);
    expect((adopt.stdout + adopt.stderr).replace(/\s+/g, " ")).toContain(`Key ${keyId} was imported, so this apply replaces it`);
  });

  it("when the key is deleted outside Terraform, drops it on refresh and plans to create it again", async () => {
    await owner().deleteApiKey({ id: keyId });
    const plan = await tf.run("plan", "-no-color", "-detailed-exitcode");
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain("apikeys_api_key.export will be created");
    await tf.ok("apply", "-no-color", "-auto-approve");
    const recreated = await storedSecret();
    expect(recreated).not.toBe(firstSecret);
    keyId = (await keyState()).id as string;
    expect((await verify(recreated, ["orders:read"])).status).toBe(VerificationStatus.VALID);
    expect((await verify(firstSecret)).status).toBe(VerificationStatus.REVOKED);
    expect((await tf.run("plan", "-detailed-exitcode")).code).toBe(0);
  });

  it("rotates on a version bump: new key, then the store, then the old key, which verifies until its grace ends", async () => {
    const oldSecret = await storedSecret();
    const oldId = keyId;
    const oldVersion = (await keyState()).secret_version;
    await tf.write({ "main.tf": keyConfig({ name: "Snowflake production orders export", scopes: ["orders:read"], version: 2 }) });
    const applied = await tf.ok("apply", "-no-color", "-auto-approve");
    // Terraform's own log shows the order: new key, new secret in the store, old key deleted.
    const created = applied.indexOf("apikeys_api_key.export: Creation complete");
    const stored = applied.indexOf("terraform_data.store: Creation complete");
    const deleted = applied.search(/apikeys_api_key\.export \(deposed object \w+\): Destroying/);
    expect(created).toBeGreaterThan(-1);
    expect(stored).toBeGreaterThan(created);
    expect(deleted).toBeGreaterThan(stored);
    const newSecret = await storedSecret();
    keyId = (await keyState()).id as string;
    expect(keyId).not.toBe(oldId);
    expect((await keyState()).secret_version).not.toBe(oldVersion);
    expect((await verify(newSecret, ["orders:read"])).status).toBe(VerificationStatus.VALID);
    // The old key is deleted but keeps verifying for its 10-second grace (long enough for a slow apply to finish first), then stops.
    expect((await verify(oldSecret, ["orders:read"])).status).toBe(VerificationStatus.VALID);
    expect(await owner().getApiKey({ id: oldId }).catch((e: Error) => e.message)).toMatch(/not found/);
    let status = VerificationStatus.VALID;
    for (const deadline = Date.now() + 30_000; status === VerificationStatus.VALID && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 250));
      status = (await verify(oldSecret)).status;
    }
    expect(status).toBe(VerificationStatus.REVOKED);
    expect((await verify(newSecret, ["orders:read"])).status).toBe(VerificationStatus.VALID);
    expect(await files("terraform.tfstate")).not.toMatch(TOKEN);
    expect((await tf.run("plan", "-detailed-exitcode")).code).toBe(0);
  });

  it("when destroyed, deletes the key", async () => {
    expect(await tf.ok("destroy", "-no-color", "-auto-approve")).toContain("Resources: 2 destroyed.");
    expect(await owner().getApiKey({ id: keyId }).catch((e: Error) => e.message)).toMatch(/not found/);
  });
});

describe("the README's example", () => {
  it("applies as written, writes a secret that verifies with its scopes, then plans no changes", async () => {
    const readme = await readFile("README.md", "utf8");
    const hcl = /<!-- terraform-example:begin -->\n```hcl\n([\s\S]*?)```\n<!-- terraform-example:end -->/.exec(readme)?.[1];
    expect(hcl).toContain('resource "apikeys_api_key" "snowflake"');
    const example = await terraformDir(cliConfig, { APIKEYS_ENDPOINT: server.httpUrl, APIKEYS_TOKEN: server.principals.owner });
    await example.write({ "main.tf": hcl! });
    await example.ok("init", "-no-color");
    await example.ok("apply", "-no-color", "-auto-approve");
    const secret = await readFile(path.join(example.dir, "snowflake.secret"), "utf8");
    expect((await verify(secret, ["orders:read", "reports:export"])).status).toBe(VerificationStatus.VALID);
    expect((await example.run("plan", "-detailed-exitcode")).code).toBe(0);
    expect(await readFile(path.join(example.dir, "terraform.tfstate"), "utf8")).not.toMatch(TOKEN);
  });
});

describe("classic mode", () => {
  const classicConfig = (secretWo: boolean) => `${PROVIDER_BLOCK}
${secretWo ? 'ephemeral "apikeys_key_material" "ci" {}' : ""}
resource "apikeys_api_key" "legacy_ci" {
  name   = "Jenkins production deploy"
  access = "full"
  ${secretWo ? "secret_wo = ephemeral.apikeys_key_material.ci.token\n  secret_wo_version = 1" : ""}
}
output "secret" {
  value     = apikeys_api_key.legacy_ci.secret
  sensitive = true
}
`;
  let classic: TerraformDir;

  it("without secret_wo, keeps the server-minted secret in state as a sensitive value that verifies", async () => {
    classic = await terraformDir(cliConfig, { APIKEYS_ENDPOINT: server.httpUrl, APIKEYS_TOKEN: server.principals.owner });
    await classic.write({ "main.tf": classicConfig(false) });
    await classic.ok("init", "-no-color");
    const applied = await classic.ok("apply", "-no-color", "-auto-approve");
    expect(applied).toContain("secret = <sensitive>");
    const secret = await classic.ok("output", "-raw", "secret");
    expect(secret).toMatch(TOKEN);
    expect((await verify(secret, ["orders:write"])).status).toBe(VerificationStatus.VALID);
    expect((await classic.run("plan", "-detailed-exitcode")).code).toBe(0);
  });

  it("switching to secret_wo replaces the key, and the classic secret leaves the state", async () => {
    const oldSecret = await classic.ok("output", "-raw", "secret");
    await classic.write({ "main.tf": classicConfig(true) });
    expect(await classic.ok("plan", "-no-color")).toContain("apikeys_api_key.legacy_ci must be replaced");
    await classic.ok("apply", "-no-color", "-auto-approve");
    expect(await readFile(path.join(classic.dir, "terraform.tfstate"), "utf8")).not.toMatch(TOKEN);
    expect((await verify(oldSecret)).status).toBe(VerificationStatus.REVOKED);
    expect((await classic.run("plan", "-detailed-exitcode")).code).toBe(0);
  });

  it("after destroy, the secret is gone from the state but still in terraform.tfstate.backup, as the README warns", async () => {
    const dir = await terraformDir(cliConfig, { APIKEYS_ENDPOINT: server.httpUrl, APIKEYS_TOKEN: server.principals.owner });
    await dir.write({ "main.tf": classicConfig(false) });
    await dir.ok("init", "-no-color");
    await dir.ok("apply", "-no-color", "-auto-approve");
    const secret = await dir.ok("output", "-raw", "secret");
    await dir.ok("destroy", "-no-color", "-auto-approve");
    expect((await verify(secret)).status).toBe(VerificationStatus.REVOKED);
    expect(await readFile(path.join(dir.dir, "terraform.tfstate"), "utf8")).not.toContain(secret);
    expect(await readFile(path.join(dir.dir, "terraform.tfstate.backup"), "utf8")).toContain(secret);
  });
});

describe("values known only at apply", () => {
  it("a scope that comes from another resource is checked at apply, and the key is created", async () => {
    const dir = await terraformDir(cliConfig, { APIKEYS_ENDPOINT: server.httpUrl, APIKEYS_TOKEN: server.principals.owner });
    await dir.write({
      "main.tf": `${PROVIDER_BLOCK}
resource "terraform_data" "scope" {
  input = "reports:export"
}
resource "apikeys_api_key" "k" {
  name   = "Looker production dashboards"
  access = "custom"
  scopes = ["orders:read", terraform_data.scope.output]
}
`,
    });
    await dir.ok("init", "-no-color");
    expect(await dir.ok("plan", "-no-color")).toContain("Plan: 2 to add");
    await dir.ok("apply", "-no-color", "-auto-approve");
    const state = JSON.parse(await dir.ok("show", "-json")) as Awaited<ReturnType<typeof stateOf>>;
    const id = state.values.root_module.resources.find((r) => r.address === "apikeys_api_key.k")!.values.id as string;
    expect((await owner().getApiKey({ id })).apiKey?.scopes).toEqual(["orders:read", "reports:export"]);
    expect((await dir.run("plan", "-detailed-exitcode")).code).toBe(0);
  });
});

describe("bad configuration", () => {
  async function planWith(env: Record<string, string>, resource: string) {
    const dir = await terraformDir(cliConfig, { APIKEYS_ENDPOINT: server.httpUrl, APIKEYS_TOKEN: server.principals.owner, ...env });
    await dir.write({ "main.tf": `${PROVIDER_BLOCK}\n${resource}\n` });
    await dir.ok("init", "-no-color");
    return dir.run("plan", "-no-color");
  }
  const custom = (scopes: string) => `resource "apikeys_api_key" "k" {
  name   = "Datadog production metrics"
  access = "custom"
  scopes = ${scopes}
}`;

  it("with a wrong token, fails at plan time saying which setting to fix", async () => {
    const plan = await planWith({ APIKEYS_TOKEN: "akp_wrong" }, custom('["orders:read"]'));
    expect(plan.code).toBe(1);
    expect(plan.stderr).toContain("The apikeys server refused the token");
    expect(plan.stderr).toContain("APIKEYS_TOKEN");
    expect(plan.stderr).not.toContain("akp_wrong");
  });

  it("with a token that may not manage keys, fails at plan time", async () => {
    const plan = await planWith({ APIKEYS_TOKEN: server.principals.member }, custom('["orders:read"]'));
    expect(plan.code).toBe(1);
    expect(plan.stderr).toContain("The token may not manage API keys");
  });

  it("with a wrong endpoint, fails at plan time naming the endpoint setting", async () => {
    const plan = await planWith({ APIKEYS_ENDPOINT: "http://127.0.0.1:9" }, custom('["orders:read"]'));
    expect(plan.code).toBe(1);
    expect(plan.stderr).toContain("Cannot reach the apikeys server");
    expect(plan.stderr).toContain("endpoint");
  });

  // Each wrong endpoint used to fail as a server error ("Internal", "Unimplemented") that sent
  // users to the server's log; each must name `endpoint` and what to set it to.
  it.each([
    ["the gRPC port", () => `http://${server.grpcAddress}`, "The apikeys endpoint is not the server's HTTP port", () => "like the server's gRPC port"],
    ["an extra path", () => `${server.httpUrl}/api`, "The apikeys endpoint is not the server's HTTP port", () => 'Remove the path "/api" from `endpoint`'],
    ["https:// on a plain-HTTP port", () => server.httpUrl.replace("http:", "https:"), "The apikeys endpoint uses https:// but the server does not use TLS", () => `Use ${server.httpUrl} in \`endpoint\``],
  ])("with %s as the endpoint, fails at plan time saying how to fix `endpoint`", async (_case, endpoint, summary, fix) => {
    const plan = await planWith({ APIKEYS_ENDPOINT: endpoint() }, custom('["orders:read"]'));
    expect(plan.code).toBe(1);
    const text = plan.stderr.replace(/\s+/g, " ");
    expect(text).toContain(summary);
    expect(text).toContain(fix());
    expect(text).toContain("`endpoint`");
    expect(text).not.toContain("server's log");
  });

  it("with another web server as the endpoint, fails at plan time saying how to fix `endpoint`", async () => {
    const web = createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>Welcome</html>"));
    await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve));
    try {
      const plan = await planWith({ APIKEYS_ENDPOINT: `http://127.0.0.1:${(web.address() as AddressInfo).port}` }, custom('["orders:read"]'));
      expect(plan.code).toBe(1);
      const text = plan.stderr.replace(/\s+/g, " ");
      expect(text).toContain("The apikeys endpoint did not answer as an apikeys server");
      expect(text).toContain("Set the provider's `endpoint` argument or the APIKEYS_ENDPOINT environment variable to the server's HTTP port");
    } finally {
      web.close();
    }
  });

  it("with key material whose prefix the server does not use, fails at plan time naming `prefix`; without a prefix, uses the server's", async () => {
    const acme = await startTestServer({ APIKEYS_KEY_PREFIX: "acme" });
    try {
      const keyWith = (prefix: string) => `ephemeral "apikeys_key_material" "k" {
  ${prefix}
}
resource "apikeys_api_key" "k" {
  name              = "Segment production events"
  access            = "full"
  secret_wo         = ephemeral.apikeys_key_material.k.token
  secret_wo_version = 1
}
resource "terraform_data" "store" {
  triggers_replace = [apikeys_api_key.k.secret_version]
  provisioner "local-exec" {
    command     = "umask 077; printf '%s' \\"$SECRET\\" > secret.txt"
    environment = { SECRET = ephemeral.apikeys_key_material.k.token }
  }
}`;
      const env = { APIKEYS_ENDPOINT: acme.httpUrl, APIKEYS_TOKEN: acme.principals.owner };
      const wrong = await planWith(env, keyWith('prefix = "ak"'));
      expect(wrong.code).toBe(1);
      const text = wrong.stderr.replace(/\s+/g, " ");
      expect(text).toContain("Key prefix differs from the server's");
      expect(text).toContain('Set `prefix = "acme"` in apikeys_key_material');
      const dir = await terraformDir(cliConfig, env);
      await dir.write({ "main.tf": `${PROVIDER_BLOCK}\n${keyWith("")}\n` });
      await dir.ok("init", "-no-color");
      await dir.ok("apply", "-no-color", "-auto-approve");
      const secret = await readFile(path.join(dir.dir, "secret.txt"), "utf8");
      expect(secret).toMatch(/^acme_[0-9A-Za-z]{50}$/);
      expect((await acme.apiKeys(acme.principals.service, "grpc").verifyApiKey({ key: secret })).status).toBe(VerificationStatus.VALID);
    } finally {
      await acme.stop();
    }
  });

  it("with an unknown scope, fails at plan time listing the catalog", async () => {
    const plan = await planWith({}, custom('["orders:read", "orders:delete"]'));
    expect(plan.code).toBe(1);
    expect(plan.stderr).toContain('Unknown scope "orders:delete"');
    expect(plan.stderr.replace(/\s+/g, " ")).toContain("customers:read, customers:write, keys:read, orders:read, orders:write, reports:export");
  });

  it("with scopes on a full key or no scopes on a custom key, fails validation with the fix", async () => {
    const full = await planWith({}, `resource "apikeys_api_key" "k" {
  name   = "Zapier production sync"
  access = "full"
  scopes = ["orders:read"]
}`);
    expect(full.code).toBe(1);
    expect(full.stderr).toContain("Scopes on a full-access key");
    const empty = await planWith({}, custom("[]"));
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain("Missing scopes");
  });
});
