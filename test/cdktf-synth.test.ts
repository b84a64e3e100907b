// The CDKTF construct library, synthesized: what Terraform JSON an ApiKey and each secret store
// produce, that the secret only ever travels as a reference to the ephemeral key material, that
// bad props fail at synth time with a message saying what to fix, and that every example app
// synthesizes (and the offline one is valid Terraform for the provider built from this checkout).
import { execFile } from "node:child_process";
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { App, TerraformStack, TerraformVariable, Testing, Token, ref } from "cdktf";
import type { Construct } from "constructs";
import { afterAll, describe, expect, it } from "vitest";
import {
  Access,
  ApiKey,
  ApikeysProvider,
  AwsSecretsManagerStore,
  AzureKeyVaultStore,
  CommandStore,
  GoogleSecretManagerStore,
  KubernetesSecretStore,
  KeyMaterial,
  RawResource,
  ScopesDataSource,
  VaultKvV2Store,
  type ApiKeyProps,
  type SecretStore,
  type SecretStoreKey,
  terraformLiteral,
} from "../provider/cdktf/index.js";
import { removeTempDirs, tempDir } from "./support/temp-dir.js";

const run = promisify(execFile);

// Synthesized Terraform JSON: its shape depends on each resource type's schema, so tests walk it
// as loosely typed data and assert on the values they expect.
type Tf = any;

const TOKEN_LITERAL = /ak_[0-9A-Za-z]{50}/;
const EPHEMERAL_REFERENCE = /\$\{[^}]*ephemeral\.apikeys_key_material\./;

afterAll(removeTempDirs);

/** Testing.app(), with its output folder (cdktf makes one in /tmp for every test app) made by tempDir(). */
const testApp = () => Testing.app({ outdir: tempDir("apikeys-cdktf-outdir-") });

/** As Testing.synthScope(build), on a testApp(). */
function synthScope(build: (scope: Construct) => void): string {
  const stack = new TerraformStack(testApp(), "stack");
  build(stack);
  return Testing.synth(stack);
}

function synth(build: (scope: Construct) => void): Tf {
  return JSON.parse(synthScope(build));
}

/** The one block of `type` under `resource` (or `data`, `ephemeral`), with its logical id. */
function only(tf: Tf, type: string, kind = "resource"): { id: string; body: Tf } {
  const blocks = Object.entries((tf[kind]?.[type] ?? {}) as Record<string, Tf>);
  expect(blocks.map(([id]) => id), `${kind} ${type}`).toHaveLength(1);
  const [id, body] = blocks[0]!;
  return { id, body };
}

/** The reference a write-only argument must hold: the stack's one key material's token. */
function tokenReference(tf: Tf): string {
  return `\${ephemeral.apikeys_key_material.${only(tf, "apikeys_key_material", "ephemeral").id}.token}`;
}

/** A reference to an attribute of the stack's one key, such as its `secret_version`. */
function keyReference(tf: Tf, attribute: string): string {
  return `\${apikeys_api_key.${only(tf, "apikeys_api_key").id}.${attribute}}`;
}

const baseProps: ApiKeyProps = {
  name: "Datadog production metrics",
  access: Access.CUSTOM,
  scopes: ["orders:read"],
};

interface StoreCase {
  readonly kind: string;
  readonly store: () => SecretStore;
  readonly type: string;
  /** The provider the store declares in required_providers, if any. */
  readonly provider?: readonly [string, string];
  /** The write-only value, as the reference it must be built from. */
  readonly value: (body: Tf) => unknown;
  readonly expectedValue: (reference: string) => string;
  readonly version: (body: Tf) => unknown;
  /** Where the resource points, unchanged from the props. */
  readonly target: Record<string, unknown>;
}

const storeCases: StoreCase[] = [
  {
    kind: "AWS Secrets Manager",
    store: () => new AwsSecretsManagerStore({ secretId: "apikeys/datadog-production-metrics" }),
    type: "aws_secretsmanager_secret_version",
    provider: ["aws", "hashicorp/aws"],
    value: (body) => body.secret_string_wo,
    expectedValue: (ref) => ref,
    version: (body) => body.secret_string_wo_version,
    target: { secret_id: "apikeys/datadog-production-metrics" },
  },
  {
    kind: "Google Secret Manager",
    store: () => new GoogleSecretManagerStore({ secret: "projects/acme/secrets/datadog-production-metrics" }),
    type: "google_secret_manager_secret_version",
    provider: ["google", "hashicorp/google"],
    value: (body) => body.secret_data_wo,
    expectedValue: (ref) => ref,
    version: (body) => body.secret_data_wo_version,
    target: { secret: "projects/acme/secrets/datadog-production-metrics" },
  },
  {
    kind: "Azure Key Vault",
    store: () => new AzureKeyVaultStore({ name: "datadog-production-metrics", keyVaultId: "/subscriptions/s/vaults/v" }),
    type: "azurerm_key_vault_secret",
    provider: ["azurerm", "hashicorp/azurerm"],
    value: (body) => body.value_wo,
    expectedValue: (ref) => ref,
    version: (body) => body.value_wo_version,
    target: { name: "datadog-production-metrics", key_vault_id: "/subscriptions/s/vaults/v" },
  },
  {
    kind: "Vault KV v2",
    store: () => new VaultKvV2Store({ mount: "secret", name: "integrations/datadog" }),
    type: "vault_kv_secret_v2",
    provider: ["vault", "hashicorp/vault"],
    value: (body) => body.data_json_wo,
    // jsonencode runs in Terraform, on the reference: the JSON never holds the value.
    expectedValue: (ref) => `\${jsonencode({"api_key" = ${ref.slice(2, -1)}})}`,
    version: (body) => body.data_json_wo_version,
    target: { mount: "secret", name: "integrations/datadog" },
  },
  {
    kind: "Kubernetes Secret",
    store: () => new KubernetesSecretStore({ name: "datadog-api-key", namespace: "monitoring" }),
    type: "kubernetes_secret_v1",
    provider: ["kubernetes", "hashicorp/kubernetes"],
    value: (body) => body.data_wo.api_key,
    expectedValue: (ref) => ref,
    version: (body) => body.data_wo_revision,
    target: { metadata: { name: "datadog-api-key", namespace: "monitoring" }, type: "Opaque" },
  },
  {
    kind: "command",
    store: () => new CommandStore({ command: "vault kv put secret/datadog api_key=-" }),
    type: "terraform_data",
    value: (body) => body.provisioner[0]["local-exec"].environment.APIKEYS_SECRET,
    expectedValue: (ref) => ref,
    version: (body) => body.triggers_replace.secret_version,
    target: {},
  },
];

describe("ApiKey", () => {
  it("when synthesized, then the key takes the ephemeral token through secret_wo, with its version and create_before_destroy", () => {
    const tf = synth((scope) => new ApiKey(scope, "Datadog", { ...baseProps, rotationVersion: 3, gracePeriodSeconds: 600 }));
    const key = only(tf, "apikeys_api_key").body;
    expect(key).toEqual({
      name: "Datadog production metrics",
      access: "custom",
      scopes: ["orders:read"],
      secret_wo: tokenReference(tf),
      secret_wo_version: 3,
      grace_period_seconds: 600,
      lifecycle: { create_before_destroy: true },
    });
  });

  it("when synthesized, then the key material is a top-level ephemeral block", () => {
    const tf = synth((scope) => new ApiKey(scope, "Datadog", { ...baseProps, keyPrefix: "live" }));
    const material = only(tf, "apikeys_key_material", "ephemeral");
    expect(material.id).toMatch(/^Datadog_KeyMaterial_[0-9A-F]{8}$/);
    expect(material.body).toEqual({ prefix: "live" });
  });

  it("when no prefix or version is given, then the provider's prefix, version 1 and no grace are used", () => {
    const tf = synth((scope) => new ApiKey(scope, "Datadog", baseProps));
    expect(only(tf, "apikeys_key_material", "ephemeral").body).toEqual({});
    const key = only(tf, "apikeys_api_key").body;
    expect(key.secret_wo_version).toBe(1);
    expect(key.grace_period_seconds).toBe(0);
  });

  it("when access is full, then no scopes are sent", () => {
    const tf = synth((scope) => new ApiKey(scope, "Deploy", { name: "GitHub Actions staging deploy", access: Access.FULL }));
    const key = only(tf, "apikeys_api_key").body;
    expect(key.access).toBe("full");
    expect(key).not.toHaveProperty("scopes");
  });

  it("when the name has spaces around it or template characters, then it is trimmed and kept literal", () => {
    const tf = synth((scope) => new ApiKey(scope, "Cost", { ...baseProps, name: "  Cost ${report} and %{export}  " }));
    // Terraform reads "$${" and "%%{" as the literal "${" and "%{".
    expect(only(tf, "apikeys_api_key").body.name).toBe("Cost $${report} and %%{export}");
  });

  it("when given a provider configuration, then the key and its key material both use it", () => {
    const tf = synth((scope) => {
      const provider = new ApikeysProvider(scope, "eu", { endpoint: "https://apikeys.eu.example.com", alias: "eu" });
      new ApiKey(scope, "Datadog", { ...baseProps, provider });
    });
    expect(only(tf, "apikeys_api_key").body.provider).toBe("apikeys.eu");
    expect(only(tf, "apikeys_key_material", "ephemeral").body.provider).toBe("apikeys.eu");
    expect(tf.provider.apikeys).toEqual([{ alias: "eu", endpoint: "https://apikeys.eu.example.com" }]);
    expect(tf.terraform.required_providers.apikeys).toEqual({ source: "apikeys.local/apikeys/apikeys", version: "~> 0.1" });
  });

  it("exposes the key's id, hint and secret_version as references, never a secret", () => {
    let key: ApiKey | undefined;
    const tf = synth((scope) => {
      key = new ApiKey(scope, "Datadog", baseProps);
      new RawResource(scope, "Out", {
        terraformResourceType: "terraform_data",
        attributes: { input: [key.apiKeyId, key.hint], triggers_replace: key.secretVersion },
      });
    });
    const resourceId = only(tf, "apikeys_api_key").id;
    expect(only(tf, "terraform_data").body.input).toEqual([`\${apikeys_api_key.${resourceId}.id}`, `\${apikeys_api_key.${resourceId}.hint}`]);
    expect(only(tf, "terraform_data").body.triggers_replace).toBe(`\${apikeys_api_key.${resourceId}.secret_version}`);
    expect(Object.keys(key!)).not.toContain("secret");
  });

  it("when props are cdktf tokens, then they are passed to Terraform unchecked", () => {
    const tf = synth((scope) => {
      const name = new TerraformVariable(scope, "name", { type: "string" });
      const version = new TerraformVariable(scope, "version", { type: "number" });
      const scopes = new TerraformVariable(scope, "scopes", { type: "list(string)" });
      new ApiKey(scope, "Key", { name: name.stringValue, access: Access.CUSTOM, scopes: scopes.listValue, rotationVersion: version.numberValue });
    });
    const key = only(tf, "apikeys_api_key").body;
    expect(key.name).toBe("${var.name}");
    expect(key.scopes).toBe("${var.scopes}");
    expect(key.secret_wo_version).toBe("${var.version}");
  });
});

describe("KeyMaterial", () => {
  it("when used on its own, then its block and its token, key id and hint references name the same ephemeral resource", () => {
    const tf = synth((scope) => {
      const before = new RawResource(scope, "Before", { terraformResourceType: "terraform_data", attributes: {} });
      const material = new KeyMaterial(scope, "material", { prefix: "ak", dependsOn: [before] });
      new RawResource(scope, "Out", {
        terraformResourceType: "terraform_data",
        attributes: { input: [material.keyId, material.hint] },
        provisioners: [{ type: "local-exec", command: "true", environment: { TOKEN: material.token } }],
      });
    });
    expect(only(tf, "apikeys_key_material", "ephemeral")).toEqual({
      id: "material",
      body: { prefix: "ak", depends_on: ["terraform_data.Before"] },
    });
    const out = tf.resource.terraform_data.Out;
    expect(out.input).toEqual(["${ephemeral.apikeys_key_material.material.key_id}", "${ephemeral.apikeys_key_material.material.hint}"]);
    expect(out.provisioner[0]["local-exec"].environment.TOKEN).toBe("${ephemeral.apikeys_key_material.material.token}");
  });
});

describe("ScopesDataSource", () => {
  it("when declared, then it reads the catalog from the apikeys provider and exposes the names as a reference", () => {
    const tf = synth((scope) => {
      const catalog = new ScopesDataSource(scope, "catalog");
      new RawResource(scope, "Out", { terraformResourceType: "terraform_data", attributes: { input: catalog.names } });
    });
    expect(only(tf, "apikeys_scopes", "data")).toEqual({ id: "catalog", body: {} });
    expect(only(tf, "terraform_data").body.input).toBe("${data.apikeys_scopes.catalog.names}");
    expect(tf.terraform.required_providers.apikeys.source).toBe("apikeys.local/apikeys/apikeys");
  });
});

describe("secret stores", () => {
  describe.each(storeCases)("$kind", (c) => {
    const synthStore = (rotationVersion?: number) =>
      synth((scope) => new ApiKey(scope, "Datadog", { ...baseProps, rotationVersion, secretStores: [c.store()] }));

    it(`when bound to a key, then a ${c.type} takes the ephemeral token through its write-only argument`, () => {
      const tf = synthStore();
      const body = only(tf, c.type).body;
      expect(c.value(body)).toBe(c.expectedValue(tokenReference(tf)));
      expect(body).toMatchObject(c.target);
    });

    it("when the key's rotation version is 5, then the store's version argument is the key's secret_version, which changes with every new secret", () => {
      const tf = synthStore(5);
      expect(c.version(only(tf, c.type).body)).toBe(keyReference(tf, "secret_version"));
      expect(only(tf, "apikeys_api_key").body.secret_wo_version).toBe(5);
    });

    it("depends on the key, so it is written after the key exists", () => {
      const tf = synthStore();
      expect(only(tf, c.type).body.depends_on).toEqual([`apikeys_api_key.${only(tf, "apikeys_api_key").id}`]);
    });

    it("declares the provider terraform init must fetch", () => {
      const required = synthStore().terraform.required_providers;
      expect(required.apikeys).toEqual({ source: "apikeys.local/apikeys/apikeys", version: "~> 0.1" });
      if (c.provider) expect(required[c.provider[0]]).toEqual({ source: c.provider[1] });
      else expect(Object.keys(required)).toEqual(["apikeys"]);
    });

    it("never writes the secret's value into the synthesized JSON", () => {
      const json = JSON.stringify(synthStore());
      expect(json).not.toMatch(TOKEN_LITERAL);
      expect(json.match(/\.token\b/g)).toHaveLength(2); // the key's secret_wo and the store's argument
    });
  });

  it("when rotationVersion is bumped, then only the key's secret_wo_version changes and every store follows the key's secret_version", () => {
    const all = (rotationVersion: number) =>
      synth((scope) => new ApiKey(scope, "Datadog", { ...baseProps, rotationVersion, secretStores: storeCases.map((c) => c.store()) }));
    const [v1, v2] = [all(1), all(2)];
    expect(only(v1, "apikeys_api_key").body.secret_wo_version).toBe(1);
    expect(only(v2, "apikeys_api_key").body.secret_wo_version).toBe(2);
    for (const tf of [v1, v2]) {
      for (const c of storeCases) expect(c.version(only(tf, c.type).body), c.kind).toBe(keyReference(tf, "secret_version"));
    }
    // The bump replaces the key (secret_wo_version), whose new secret_version rewrites every store:
    // the same resources, the same references, only the key's version differs.
    expect(JSON.stringify(v2).replace(/"secret_wo_version":2/g, '"secret_wo_version":1')).toBe(JSON.stringify(v1));
  });

  it("when a store is written by a user, then it receives the token, the key's secret_version and the key resource", () => {
    const seen: SecretStoreKey[] = [];
    const custom: SecretStore = {
      id: "OnePassword",
      bind(scope, key) {
        seen.push(key);
        new RawResource(scope, this.id, {
          terraformResourceType: "onepassword_item",
          dependsOn: [key.keyResource],
          attributes: { password_wo: key.token, password_wo_version: key.version },
        });
      },
    };
    const tf = synth((scope) => new ApiKey(scope, "Datadog", { ...baseProps, rotationVersion: 2, secretStores: [custom] }));
    expect(seen).toHaveLength(1);
    expect(Token.isUnresolved(seen[0]!.version)).toBe(true);
    expect(only(tf, "onepassword_item").body).toMatchObject({ password_wo: tokenReference(tf), password_wo_version: keyReference(tf, "secret_version") });
  });

  it("when two stores of one kind have their own ids, then both are written", () => {
    const tf = synth(
      (scope) =>
        new ApiKey(scope, "Datadog", {
          ...baseProps,
          secretStores: [
            new AwsSecretsManagerStore({ secretId: "apikeys/datadog" }),
            new AwsSecretsManagerStore({ secretId: "apikeys/datadog", id: "AwsSecretsManagerEu" }),
          ],
        }),
    );
    expect(Object.keys(tf.resource.aws_secretsmanager_secret_version)).toHaveLength(2);
  });

  it("when the Key Vault id is a reference, then key_vault_id holds the reference, not escaped text", () => {
    const tf = synth((scope) => {
      const keyVaultId = Token.asString(ref("azurerm_key_vault.example.id"));
      new ApiKey(scope, "Datadog", { ...baseProps, secretStores: [new AzureKeyVaultStore({ name: "datadog", keyVaultId })] });
    });
    expect(only(tf, "azurerm_key_vault_secret").body.key_vault_id).toBe("${azurerm_key_vault.example.id}");
  });
});

describe("terraformLiteral", () => {
  const resolve = (value: string): unknown =>
    only(synth((scope) => new RawResource(scope, "Out", { terraformResourceType: "terraform_data", attributes: { input: terraformLiteral(value) } })), "terraform_data").body.input;

  it("escapes template sequences of literal text, which Terraform reads back as written", () => {
    expect(resolve("a ${b} %{c} $${d}")).toBe("a $${b} %%{c} $$${d}");
  });

  it("leaves a token a reference, and escapes only the literal text around a token", () => {
    const vault = Token.asString(ref("azurerm_key_vault.example.id"));
    expect(resolve(vault)).toBe("${azurerm_key_vault.example.id}");
    expect(resolve(`\${HOME}/${vault} %{x}`)).toBe("$${HOME}/${azurerm_key_vault.example.id} %%{x}");
  });
});

describe("CommandStore", () => {
  const synthCommand = (store: CommandStore) => {
    const tf = synth((scope) => new ApiKey(scope, "Datadog", { ...baseProps, rotationVersion: 4, secretStores: [store] }));
    const body = only(tf, "terraform_data").body;
    return { tf, body, exec: body.provisioner[0]["local-exec"] };
  };

  /** What the interpreter receives: Terraform reads the JSON string as a template without interpolations. */
  const asTerraformRunsIt = (command: string) => command.replace(/\$\$\{/g, "${").replace(/%%\{/g, "%{");

  const KEY_ID = "AbCdEfGh1234";
  /** A made-up token for key `id` (well-formed in shape only). */
  const fakeToken = (id: string, prefix = "ak") => `${prefix}_${id}${"s".repeat(32)}${"c".repeat(6)}`;
  const REFUSAL =
    "this run's key material is not the key's secret (the key was created in an earlier run), so it was not stored; " +
    "bump rotationVersion to rotate the key and rewrite every store.";

  /** Runs the synthesized provisioner as Terraform would, with a made-up environment. */
  async function runCommand(exec: Tf, env: Record<string, string>) {
    return run(exec.interpreter[0], [...exec.interpreter.slice(1), asTerraformRunsIt(exec.command)], { env: { PATH: process.env.PATH, ...env } }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
    );
  }

  it("when the secret goes to stdin, then the command checks the key material, pipes the variable in and never holds the secret", () => {
    const { tf, exec } = synthCommand(new CommandStore({ command: "gh secret set DATADOG_API_KEY" }));
    expect(exec.command).toMatch(/^# Store only the key's own secret/);
    expect(exec.command).toContain('[ "$apikeys_token_id" != "$APIKEYS_KEY_ID" ]');
    expect(exec.command.endsWith(`\nprintf '%s' "$APIKEYS_SECRET" | (unset APIKEYS_SECRET; gh secret set DATADOG_API_KEY\n)`)).toBe(true);
    expect(exec.command).not.toMatch(EPHEMERAL_REFERENCE);
    expect(exec.environment).toEqual({ APIKEYS_SECRET: tokenReference(tf), APIKEYS_KEY_ID: keyReference(tf, "id") });
    expect(exec.interpreter).toEqual(["/bin/sh", "-c"]);
  });

  it("when the secret goes to the environment, then the checked command is run as written, with the secret in its variable", () => {
    const { tf, exec } = synthCommand(
      new CommandStore({ command: "store-secret --from-env TOKEN", via: "environment", environmentVariable: "TOKEN", interpreter: ["/bin/bash", "-c"] }),
    );
    expect(exec.command).toContain("apikeys_token_id=$${TOKEN#*_};");
    expect(exec.command.endsWith("\nunset apikeys_token_id\nstore-secret --from-env TOKEN")).toBe(true);
    expect(exec.environment).toEqual({ TOKEN: tokenReference(tf), APIKEYS_KEY_ID: keyReference(tf, "id") });
    expect(exec.interpreter).toEqual(["/bin/bash", "-c"]);
  });

  it("when the command uses ${VAR}, then Terraform receives it escaped, for the shell to expand", () => {
    const { exec } = synthCommand(new CommandStore({ command: 'cat > "${DIR}/key"', via: "environment", environment: { DIR: "/srv/${x}" } }));
    expect(exec.command.endsWith('\ncat > "$${DIR}/key"')).toBe(true);
    expect(exec.environment.DIR).toBe("/srv/$${x}");
  });

  it("is replaced when the key's id or secret_version changes, after the key, creating the new one first", () => {
    const { tf, body } = synthCommand(new CommandStore({ command: "cat > key" }));
    expect(body.triggers_replace).toEqual({ key_id: keyReference(tf, "id"), secret_version: keyReference(tf, "secret_version") });
    expect(body.lifecycle).toEqual({ create_before_destroy: true });
  });

  it("when the default command of the examples runs with a real shell, then it writes the piped secret with mode 600", async () => {
    const dir = tempDir("apikeys-command-store-");
    const { exec } = synthCommand(new CommandStore({ command: 'umask 077; mkdir -p "$SECRETS_DIR"; cat > "$SECRETS_DIR/k.key"', environment: { SECRETS_DIR: dir } }));
    const secret = fakeToken(KEY_ID);
    const result = await runCommand(exec, { SECRETS_DIR: dir, APIKEYS_SECRET: secret, APIKEYS_KEY_ID: KEY_ID });
    expect(result).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(await readFile(path.join(dir, "k.key"), "utf8")).toBe(secret);
    const { stdout } = await run("stat", ["-c", "%a", path.join(dir, "k.key")]);
    expect(stdout.trim()).toBe("600");
  });

  describe.each<["stdin" | "environment", string]>([
    ["stdin", 'cat > "$OUT"'],
    ["environment", 'printf \'%s\' "$APIKEYS_SECRET" > "$OUT"'],
  ])("guard, with the secret via %s, run by /bin/sh", (via, command) => {
    const setup = async () => {
      const dir = tempDir("apikeys-command-guard-");
      const out = path.join(dir, "stored");
      const { exec } = synthCommand(new CommandStore({ command, via }));
      expect(exec.interpreter).toEqual(["/bin/sh", "-c"]);
      return { exec, out };
    };

    it.each([["ak"], ["live"]])("when the token's id part (after %s_) is the key's id, then the command runs and stores the token", async (prefix) => {
      const { exec, out } = await setup();
      const token = fakeToken(KEY_ID, prefix);
      const result = await runCommand(exec, { OUT: out, APIKEYS_SECRET: token, APIKEYS_KEY_ID: KEY_ID });
      expect(result).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(await readFile(out, "utf8")).toBe(token);
    });

    it.each<[string, Record<string, string>]>([
      ["another key's id (a store written in a run that did not create the key)", { APIKEYS_SECRET: fakeToken("ZzZzZzZz9876"), APIKEYS_KEY_ID: KEY_ID }],
      ["an id differing in its last character", { APIKEYS_SECRET: fakeToken("AbCdEfGh1235"), APIKEYS_KEY_ID: KEY_ID }],
      ["a token too short to hold an id", { APIKEYS_SECRET: "ak_AbCdEf", APIKEYS_KEY_ID: KEY_ID }],
      ["no key id", { APIKEYS_SECRET: fakeToken(KEY_ID) }],
    ])("when the token holds %s, then it exits non-zero saying to bump rotationVersion, without running the command", async (_, env) => {
      const { exec, out } = await setup();
      const result = await runCommand(exec, { OUT: out, ...env });
      expect(result.code).not.toBe(0);
      expect(result.stdout).toBe("");
      expect(result.stderr).toBe(`CommandStore "stack/Datadog/Command": ${REFUSAL}\n`);
      await expect(readFile(out, "utf8")).rejects.toThrow(/ENOENT/);
    });
  });
});

describe("validation", () => {
  const build = (props: Partial<ApiKeyProps>) => () =>
    synthScope((scope) => new ApiKey(scope, "Key", { ...baseProps, ...props } as ApiKeyProps));
  const scopeMessage = (scope: string) =>
    `ApiKey "Key": scope ${JSON.stringify(scope)} is not a valid scope name: use lowercase segments separated by ":", each starting with a letter and holding only a-z, 0-9, "_", "." or "-" (at most 63 characters), such as "orders:read".`;
  const versionMessage = (got: unknown) => `ApiKey "Key": rotationVersion must be a positive integer (1, 2, 3, ...; bump it to rotate the key); got ${got}.`;
  const graceMessage = (got: number) => `ApiKey "Key": gracePeriodSeconds must be a whole number of seconds from 0 to 86400 (24 hours); got ${got}.`;
  const prefixMessage = (got: string) =>
    `ApiKey "Key": keyPrefix must be 2 to 16 lowercase letters or digits starting with a letter, the same as the server's key prefix (tokens look like "ak_" followed by 50 base62 characters); got ${JSON.stringify(got)}.`;
  const customMessage = `ApiKey "Key": custom access needs at least one scope in scopes, such as ["orders:read"]; use access "full" for every scope.`;

  it.each<[string, Partial<ApiKeyProps>, string]>([
    // The server's rule and words (contract/key-name.ts), checked on the trimmed name.
    ["an empty name", { name: "   " }, `ApiKey "Key": name must not be empty, for example "Snowflake production export".`],
    ["a name of 101 characters", { name: " " + "x".repeat(101) + " " }, `ApiKey "Key": name must be at most 100 characters, got 101.`],
    ["a name with a tab", { name: "Datadog\tproduction" }, `ApiKey "Key": name must not contain control characters such as newlines or tabs.`],
    [
      "an unknown access level",
      { access: "admin" as Access },
      `ApiKey "Key": access must be "full" (every scope, including scopes added later) or "custom" (only the listed scopes); got "admin".`,
    ],
    ["custom access without scopes", { scopes: undefined }, customMessage],
    ["custom access with no scopes", { scopes: [] }, customMessage],
    [
      "full access with scopes",
      { access: Access.FULL, scopes: ["orders:read"] },
      `ApiKey "Key": full access grants every scope, so scopes must be left out; use access "custom" to grant only the listed scopes.`,
    ],
    [
      "a scope listed twice",
      { scopes: ["orders:read", "keys:read", "orders:read"] },
      `ApiKey "Key": scope "orders:read" is listed more than once in scopes; list each scope once.`,
    ],
    ["a scope in capitals", { scopes: ["Orders:Read"] }, scopeMessage("Orders:Read")],
    ["a scope with a space", { scopes: ["orders read"] }, scopeMessage("orders read")],
    ["a scope with an empty segment", { scopes: ["orders:"] }, scopeMessage("orders:")],
    [
      "201 scopes",
      { scopes: Array.from({ length: 201 }, (_, i) => `scope${i}:read`) },
      `ApiKey "Key": scopes must list at most 200 scopes; got 201.`,
    ],
    ["rotation version 0", { rotationVersion: 0 }, versionMessage(0)],
    ["rotation version 1.5", { rotationVersion: 1.5 }, versionMessage(1.5)],
    ["rotation version NaN (an unset number from the environment)", { rotationVersion: Number("two") }, versionMessage(NaN)],
    ["a negative grace period", { gracePeriodSeconds: -1 }, graceMessage(-1)],
    ["a grace period over 24 hours", { gracePeriodSeconds: 86_401 }, graceMessage(86_401)],
    ["a fractional grace period", { gracePeriodSeconds: 0.5 }, graceMessage(0.5)],
    ["a prefix in capitals", { keyPrefix: "AK" }, prefixMessage("AK")],
    ["a prefix of one letter", { keyPrefix: "a" }, prefixMessage("a")],
    ["a prefix starting with a digit", { keyPrefix: "1ak" }, prefixMessage("1ak")],
    ["a prefix of 17 characters", { keyPrefix: "abcdefghijklmnopq" }, prefixMessage("abcdefghijklmnopq")],
    ["a prefix with an underscore", { keyPrefix: "a_k" }, prefixMessage("a_k")],
    [
      "two stores with one id",
      { secretStores: [new AwsSecretsManagerStore({ secretId: "a" }), new AwsSecretsManagerStore({ secretId: "b" })] },
      `ApiKey "Key": two secret stores use the id "AwsSecretsManager"; give each store of the same kind its own id (the id names the store's resources).`,
    ],
  ])("when given %s, then synth fails saying what to fix", (_, props, message) => {
    expect(build(props)).toThrowError(new Error(message));
  });

  it.each<[string, Partial<ApiKeyProps>]>([
    ["a name of exactly 100 characters", { name: "x".repeat(100) }],
    ["a grace period of exactly 24 hours", { gracePeriodSeconds: 86_400 }],
    ["a prefix of 16 characters", { keyPrefix: "abcdefghijklmnop" }],
    ["dotted, dashed and underscored scopes", { scopes: ["reports:export", "billing.v2:read-all", "a_b"] }],
  ])("when given %s, then synth succeeds", (_, props) => {
    expect(build(props)).not.toThrow();
  });

  it.each<[string, () => unknown, string]>([
    [
      "a command store without a command",
      () => new CommandStore({ command: " " }),
      `CommandStore: command must be a non-empty string, such as "umask 077; cat > \\"$SECRETS_DIR/datadog.key\\"".`,
    ],
    [
      "a command store with an unknown way in",
      () => new CommandStore({ command: "cat", via: "file" as "stdin" }),
      `CommandStore: via must be "stdin" or "environment"; got "file".`,
    ],
    [
      "a command store with an invalid variable name",
      () => new CommandStore({ command: "cat", environmentVariable: "1SECRET" }),
      `CommandStore: environmentVariable must be letters, digits and "_", not starting with a digit, such as "APIKEYS_SECRET"; got "1SECRET".`,
    ],
    [
      "a command store with an empty interpreter",
      () => new CommandStore({ command: "cat", interpreter: [] }),
      `CommandStore: interpreter must name a program, such as ["/bin/sh", "-c"], or be left out.`,
    ],
    [
      "a command store whose environment sets the secret's variable",
      () => new CommandStore({ command: "cat", environment: { APIKEYS_SECRET: "x" } }),
      `CommandStore: environment must not set APIKEYS_SECRET, which carries the secret; choose another environmentVariable.`,
    ],
    [
      "a command store whose secret variable is the key id's",
      () => new CommandStore({ command: "cat", environmentVariable: "APIKEYS_KEY_ID" }),
      `CommandStore: environmentVariable must not be APIKEYS_KEY_ID, which carries the key's id; choose another name, such as "APIKEYS_SECRET".`,
    ],
    [
      "a command store whose environment sets the key id's variable",
      () => new CommandStore({ command: "cat", environment: { APIKEYS_KEY_ID: "x" } }),
      `CommandStore: environment must not set APIKEYS_KEY_ID, which carries the key's id; choose another name.`,
    ],
    [
      "an AWS store without a secret id",
      () => new AwsSecretsManagerStore({ secretId: "" }),
      `AwsSecretsManagerStore: secretId must be a non-empty string, such as "apikeys/snowflake-production-export".`,
    ],
    [
      "a Google store without a secret",
      () => new GoogleSecretManagerStore({ secret: "" }),
      `GoogleSecretManagerStore: secret must be a non-empty string, such as "projects/my-project/secrets/datadog-production-metrics".`,
    ],
    [
      "an Azure store without a vault",
      () => new AzureKeyVaultStore({ name: "n", keyVaultId: "" }),
      `AzureKeyVaultStore: keyVaultId must be a non-empty string, such as "/subscriptions/<subscription>/resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/<vault>" or a reference such as vault.id of a KeyVault resource.`,
    ],
    [
      "a Vault store without a mount",
      () => new VaultKvV2Store({ mount: "", name: "n" }),
      `VaultKvV2Store: mount must be a non-empty string, such as "secret".`,
    ],
    [
      "a Vault store with a key holding a quote",
      () => new VaultKvV2Store({ mount: "secret", name: "n", key: 'api"key' }),
      `VaultKvV2Store: key must be 1 to 253 letters, digits, "-", "_" or "." (a Kubernetes data key); got "api\\"key".`,
    ],
    [
      "a Kubernetes store without a name",
      () => new KubernetesSecretStore({ name: "" }),
      `KubernetesSecretStore: name must be a non-empty string, such as "datadog-api-key".`,
    ],
    [
      "a Kubernetes store with a key holding a slash",
      () => new KubernetesSecretStore({ name: "n", key: "api/key" }),
      `KubernetesSecretStore: key must be 1 to 253 letters, digits, "-", "_" or "." (a Kubernetes data key); got "api/key".`,
    ],
    [
      "a provider token written as a literal",
      () => synthScope((scope) => new ApikeysProvider(scope, "apikeys", { token: "owner-token" })),
      `ApikeysProvider "apikeys": token must be a reference (for example a sensitive TerraformVariable's value), not a literal string, which would be written into the synthesized JSON; or leave it out and set APIKEYS_TOKEN.`,
    ],
  ])("when given %s, then it fails saying what to fix", (_, build, message) => {
    expect(build).toThrowError(new Error(message));
  });

  it("when the provider token is a sensitive variable, then the JSON holds only its reference", () => {
    const tf = synth((scope) => {
      const token = new TerraformVariable(scope, "apikeys_token", { type: "string", sensitive: true });
      new ApikeysProvider(scope, "apikeys", { token: token.stringValue });
    });
    expect(tf.provider.apikeys).toEqual([{ token: "${var.apikeys_token}" }]);
  });

  it("when the app asks for HCL output, then synth fails instead of dropping the ephemeral block", () => {
    const stack = new TerraformStack(testApp(), "stack");
    new ApiKey(stack, "Key", baseProps);
    expect(() => Testing.synthHcl(stack)).toThrow(/^KeyMaterial "KeyMaterial": cdktf's HCL output cannot render this element .* by removing "hclOutput" from cdktf.json\.$/);
  });
});

describe("example apps", () => {
  const examples = path.resolve("cdktf-examples");

  /** Runs an example's main.ts as `npx tsx main.ts` would, into a temporary output folder. */
  async function synthExample(name: string, env: Record<string, string> = {}) {
    const tmp = tempDir(`apikeys-cdktf-${name}-`);
    const outdir = path.join(tmp, "out");
    const secretsDir = path.join(tmp, "secrets");
    const statePath = path.join(tmp, "terraform.tfstate");
    const stack = `${name}-test`;
    await run(path.resolve("node_modules/.bin/tsx"), ["main.ts"], {
      cwd: path.join(examples, name),
      env: { ...process.env, CDKTF_OUTDIR: outdir, STACK_NAME: stack, SECRETS_DIR: secretsDir, STATE_PATH: statePath, ...env },
    });
    const stackDir = path.join(outdir, "stacks", stack);
    const files = await readdir(outdir, { recursive: true, withFileTypes: true });
    const everything = await Promise.all(files.filter((f) => f.isFile()).map((f) => readFile(path.join(f.parentPath, f.name), "utf8")));
    const tf: Tf = JSON.parse(await readFile(path.join(stackDir, "cdk.tf.json"), "utf8"));
    return { tf, stackDir, secretsDir, statePath, everything: everything.join("\n") };
  }

  const keysOf = (tf: Tf) => Object.values(tf.resource.apikeys_api_key as Record<string, Tf>);

  it.each([
    ["keys-per-integration", 3, "aws_secretsmanager_secret_version"],
    ["command-store", 3, "terraform_data"],
    ["rotation", 1, "terraform_data"],
  ])("when %s is synthesized, then each of its %i keys writes its ephemeral secret to a %s and no secret is in the output", async (name, count, storeType) => {
    const { tf, everything } = await synthExample(name);
    expect(keysOf(tf)).toHaveLength(count);
    for (const key of keysOf(tf)) expect(key.secret_wo).toMatch(/^\$\{ephemeral\.apikeys_key_material\.\w+\.token\}$/);
    expect(Object.keys(tf.resource[storeType])).toHaveLength(count);
    expect(Object.keys(tf.ephemeral.apikeys_key_material)).toHaveLength(count);
    expect(everything).not.toMatch(TOKEN_LITERAL);
  }, 60_000);

  it("when keys-per-integration is synthesized, then its keys follow the naming convention with full and custom access", async () => {
    const { tf } = await synthExample("keys-per-integration");
    const byName = keysOf(tf).map((k) => [k.name, k.access, k.scopes]).sort();
    expect(byName).toEqual([
      ["Datadog production metrics", "custom", ["orders:read"]],
      ["GitHub Actions staging deploy", "full", undefined],
      ["Snowflake production data warehouse export", "custom", ["reports:export", "orders:read"]],
    ]);
    expect(tf.terraform.required_providers.aws).toEqual({ source: "hashicorp/aws" });
  }, 60_000);

  it("when command-store is synthesized, then every command writes under SECRETS_DIR with mode 600 and gets the secret only by environment", async () => {
    const { tf, secretsDir, statePath } = await synthExample("command-store");
    expect(tf.terraform.backend).toEqual({ local: { path: statePath } });
    for (const body of Object.values(tf.resource.terraform_data as Record<string, Tf>)) {
      const exec = body.provisioner[0]["local-exec"];
      expect(exec.command).toMatch(/umask 077; mkdir -p "\$SECRETS_DIR"; cat > "\$SECRETS_DIR\/[a-z-]+\.key"/);
      expect(exec.command).not.toMatch(EPHEMERAL_REFERENCE);
      expect(exec.environment.SECRETS_DIR).toBe(secretsDir);
      expect(exec.environment.APIKEYS_SECRET).toMatch(EPHEMERAL_REFERENCE);
    }
    expect(Object.keys(tf.terraform.required_providers)).toEqual(["apikeys"]);
  }, 60_000);

  it("when rotation is synthesized with ROTATION_VERSION=4, then the key carries version 4 and the grace period, and its store follows the key's secret", async () => {
    const { tf } = await synthExample("rotation", { ROTATION_VERSION: "4", GRACE_PERIOD_SECONDS: "60" });
    const [key] = keysOf(tf);
    expect(key).toMatchObject({ secret_wo_version: 4, grace_period_seconds: 60, lifecycle: { create_before_destroy: true } });
    expect(only(tf, "terraform_data").body.triggers_replace).toEqual({ key_id: keyReference(tf, "id"), secret_version: keyReference(tf, "secret_version") });
  }, 60_000);

  it("when rotation is given a ROTATION_VERSION that is not a positive integer, then the app fails saying so", async () => {
    const failure = await synthExample("rotation", { ROTATION_VERSION: "latest" }).then(
      () => undefined,
      (err: { stderr: string }) => err.stderr,
    );
    expect(failure).toContain('ApiKey "GithubActionsDeploy": rotationVersion must be a positive integer');
  }, 60_000);

  it("when command-store is synthesized, then terraform validates it against the provider built from this checkout", async () => {
    const { stackDir } = await synthExample("command-store");
    const build = tempDir("apikeys-provider-");
    await run(path.resolve("node_modules/.bin/tsx"), ["provider/build.ts", build]);
    const env = { ...process.env, TF_CLI_CONFIG_FILE: path.join(build, "terraformrc"), CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1" };
    await run("terraform", ["init", "-input=false", "-no-color"], { cwd: stackDir, env });
    const { stdout } = await run("terraform", ["validate", "-json", "-no-color"], { cwd: stackDir, env });
    expect(JSON.parse(stdout)).toMatchObject({ valid: true, error_count: 0, warning_count: 0 });
  }, 120_000);
});

describe("App", () => {
  it("when an app synthesizes with the default settings, then its stack JSON carries the ephemeral block", async () => {
    const outdir = tempDir("apikeys-cdktf-app-");
    const app = new App({ outdir });
    const stack = new TerraformStack(app, "keys");
    new ApikeysProvider(stack, "apikeys");
    new ApiKey(stack, "Datadog", baseProps);
    app.synth();
    const tf: Tf = JSON.parse(await readFile(path.join(outdir, "stacks", "keys", "cdk.tf.json"), "utf8"));
    const [id, body] = Object.entries(tf.ephemeral.apikeys_key_material as Record<string, Tf>)[0]!;
    // Terraform ignores "//" properties in any block body: cdktf keeps its construct path there.
    expect(body["//"].metadata.path).toBe("keys/Datadog/KeyMaterial");
    expect(Object.values(tf.resource.apikeys_api_key as Record<string, Tf>)[0].secret_wo).toBe(`\${ephemeral.apikeys_key_material.${id}.token}`);
  });
});
