// The same keys as keys-per-integration, with no cloud account: a command stores each secret in a
// file under SECRETS_DIR, readable only by its owner. Any CLI that reads a secret on stdin
// (`vault kv put ... -`, `gh secret set NAME`, `kubectl create secret ... --from-file=key=/dev/stdin`)
// fits the same way.
import path from "node:path";
import { App, LocalBackend, TerraformStack } from "cdktf";
import { Access, ApiKey, ApikeysProvider, CommandStore } from "../../provider/cdktf/index.js";

const app = new App(); // output folder: CDKTF_OUTDIR, default cdktf.out
const stackName = process.env.STACK_NAME ?? "command-store";
const stack = new TerraformStack(app, stackName);
// Terraform state (holding no secret): STATE_PATH, default terraform.<stack>.tfstate here.
new LocalBackend(stack, { path: path.resolve(process.env.STATE_PATH ?? `terraform.${stackName}.tfstate`) });
const secretsDir = path.resolve(process.env.SECRETS_DIR ?? "secrets");

// Server and credentials come from APIKEYS_ENDPOINT and APIKEYS_TOKEN.
new ApikeysProvider(stack, "apikeys");

/** Writes the secret (received on stdin) to $SECRETS_DIR/<file> with mode 600. */
function secretFile(file: string): CommandStore {
  return new CommandStore({
    command: `umask 077; mkdir -p "$SECRETS_DIR"; cat > "$SECRETS_DIR/${file}"`,
    environment: { SECRETS_DIR: secretsDir },
  });
}

new ApiKey(stack, "SnowflakeExport", {
  name: "Snowflake production data warehouse export",
  access: Access.CUSTOM,
  scopes: ["reports:export", "orders:read"],
  secretStores: [secretFile("snowflake-production-export.key")],
});

new ApiKey(stack, "GithubActionsDeploy", {
  name: "GitHub Actions staging deploy",
  access: Access.FULL,
  secretStores: [secretFile("github-actions-staging-deploy.key")],
});

new ApiKey(stack, "DatadogMetrics", {
  name: "Datadog production metrics",
  access: Access.CUSTOM,
  scopes: ["orders:read"],
  secretStores: [secretFile("datadog-production-metrics.key")],
});

app.synth();
console.log(`Synthesized ${path.join(app.outdir, "stacks", stackName)}: run terraform -chdir=<that folder> init, then apply.`);
