// Adopting a key made outside Terraform: imported into a configuration that gives it key material
// through `secret_wo`, it is replaced by a key with that secret in the first apply, so the store
// gets a secret that works, and the imported key keeps verifying for the configured grace.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { AuditAction } from "../contract/gen/apikeys/v1/audit_event_pb.js";
import { VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { removeTempDirs } from "./support/temp-dir.js";
import { buildProvider, terraformDir, type TerraformDir } from "./support/terraform.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;
let cliConfig: string;

beforeAll(async () => {
  [server, cliConfig] = await Promise.all([startTestServer(), buildProvider()]);
});
afterAll(() => server?.stop());
afterAll(removeTempDirs);

// Long enough for the rest of a slow apply (the store, the state) to finish within it.
const GRACE_SECONDS = 20;
const owner = () => server.apiKeys(server.principals.owner);
const verify = (key: string, requiredScopes: string[] = []) => server.apiKeys(server.principals.service, "grpc").verifyApiKey({ key, requiredScopes });

/** No `secret_wo_version`: the case that used to update in place and leave the store a dead token. */
const CONFIG = `
terraform {
  required_providers {
    apikeys = { source = "apikeys.local/apikeys/apikeys" }
  }
}

provider "apikeys" {}

ephemeral "apikeys_key_material" "export" {}

resource "apikeys_api_key" "export" {
  name                 = "Fivetran production orders sync"
  access               = "custom"
  scopes               = ["orders:read"]
  secret_wo            = ephemeral.apikeys_key_material.export.token
  grace_period_seconds = ${GRACE_SECONDS}

  lifecycle {
    create_before_destroy = true
  }
}

resource "terraform_data" "store" {
  triggers_replace = [apikeys_api_key.export.secret_version]

  provisioner "local-exec" {
    command     = "umask 077; printf '%s' \\"$SECRET\\" > secret.txt"
    environment = { SECRET = ephemeral.apikeys_key_material.export.token }
  }
}
`;

describe("an imported key in a configuration with secret_wo", () => {
  let tf: TerraformDir;
  let oldId: string;
  let oldSecret: string;
  let stored: string;
  let applyStartedAt: number;

  it("plans to replace it, saying so", async () => {
    const created = await owner().createApiKey({ name: "Fivetran production orders sync", access: AccessLevel.CUSTOM, scopes: ["orders:read"] });
    oldId = created.apiKey!.id;
    oldSecret = created.secret;
    tf = await terraformDir(cliConfig, { APIKEYS_ENDPOINT: server.httpUrl, APIKEYS_TOKEN: server.principals.owner });
    await tf.write({ "main.tf": CONFIG });
    await tf.ok("init", "-no-color");
    expect(await tf.ok("import", "-no-color", "apikeys_api_key.export", oldId)).toContain("Import successful!");
    const plan = await tf.run("plan", "-no-color", "-detailed-exitcode");
    expect(plan.code, plan.stderr).toBe(2);
    const text = (plan.stdout + plan.stderr).replace(/\s+/g, " ");
    expect(text).toContain(`Key ${oldId} was imported, so this apply replaces it`);
    expect(text).toContain(`~ id = "${oldId}" -> (known after apply)`);
  });

  it("when applied, the store gets a secret that verifies, and the next plan is empty", async () => {
    applyStartedAt = Date.now();
    await tf.ok("apply", "-no-color", "-auto-approve");
    stored = await readFile(path.join(tf.dir, "secret.txt"), "utf8");
    expect((await verify(stored, ["orders:read"])).status).toBe(VerificationStatus.VALID);
    const state = JSON.parse(await tf.ok("show", "-json")) as { values: { root_module: { resources: { address: string; values: Record<string, unknown> }[] } } };
    const key = state.values.root_module.resources.find((r) => r.address === "apikeys_api_key.export")!.values;
    expect(key.id).not.toBe(oldId);
    expect(stored.slice(3, 15)).toBe(key.id);
    expect(await readFile(path.join(tf.dir, "terraform.tfstate"), "utf8")).not.toContain(stored);
    const plan = await tf.run("plan", "-no-color", "-detailed-exitcode");
    expect(plan.stdout).toContain("No changes.");
    expect(plan.code).toBe(0);
  });

  it("the imported key is deleted with the configured grace: its secret verifies until the grace ends, then not", async () => {
    expect((await verify(oldSecret, ["orders:read"])).status).toBe(VerificationStatus.VALID);
    const { events } = await owner().listAuditEvents({ apiKeyId: oldId });
    const deleted = events.find((e) => e.action === AuditAction.DELETE)!;
    expect(deleted.changes.find((c) => c.field === "grace_period_seconds")?.newValue).toBe(String(GRACE_SECONDS));
    const deletedAt = Number(timestampMs(deleted.time!));
    expect(deletedAt).toBeGreaterThanOrEqual(applyStartedAt - 1000);
    // Poll until the grace has ended; the secret must never be refused before then.
    let status = VerificationStatus.VALID;
    let refusedAt = 0;
    for (const deadline = deletedAt + GRACE_SECONDS * 1000 + 30_000; Date.now() < deadline; ) {
      status = (await verify(oldSecret)).status;
      if (status !== VerificationStatus.VALID) {
        refusedAt = Date.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(VerificationStatus.REVOKED);
    expect(refusedAt).toBeGreaterThanOrEqual(deletedAt + (GRACE_SECONDS - 1) * 1000);
    expect((await verify(stored, ["orders:read"])).status).toBe(VerificationStatus.VALID);
  }, 120_000);
});
