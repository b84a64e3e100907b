// One API key per integration, named Tool + environment + purpose, each secret written straight
// into AWS Secrets Manager. Terraform state keeps only the secrets' versions, never their values.
import path from "node:path";
import { App, LocalBackend, TerraformStack } from "cdktf";
import { Access, ApiKey, ApikeysProvider, AwsSecretsManagerStore, RawResource } from "../../provider/cdktf/index.js";

const app = new App(); // output folder: CDKTF_OUTDIR, default cdktf.out
const stackName = process.env.STACK_NAME ?? "keys-per-integration";
const stack = new TerraformStack(app, stackName);
// Terraform state (holding no secret): STATE_PATH, default terraform.<stack>.tfstate here.
new LocalBackend(stack, { path: path.resolve(process.env.STATE_PATH ?? `terraform.${stackName}.tfstate`) });

// Server and credentials come from APIKEYS_ENDPOINT and APIKEYS_TOKEN; AWS from its usual
// environment (AWS_REGION, AWS_PROFILE, ...).
new ApikeysProvider(stack, "apikeys");

const integrations = [
  {
    id: "SnowflakeExport",
    name: "Snowflake production data warehouse export",
    access: Access.CUSTOM,
    scopes: ["reports:export", "orders:read"],
    secretName: "apikeys/snowflake-production-export",
  },
  {
    id: "GithubActionsDeploy",
    name: "GitHub Actions staging deploy",
    access: Access.FULL,
    secretName: "apikeys/github-actions-staging-deploy",
  },
  {
    id: "DatadogMetrics",
    name: "Datadog production metrics",
    access: Access.CUSTOM,
    scopes: ["orders:read"],
    secretName: "apikeys/datadog-production-metrics",
  },
];

for (const { id, name, access, scopes, secretName } of integrations) {
  // The secret itself (its metadata); the key's value goes into a version of it.
  const secret = new RawResource(stack, `${id}Secret`, {
    terraformResourceType: "aws_secretsmanager_secret",
    attributes: { name: secretName },
  });
  new ApiKey(stack, id, {
    name,
    access,
    scopes,
    secretStores: [new AwsSecretsManagerStore({ secretId: secret.getStringAttribute("id") })],
  });
}

app.synth();
console.log(`Synthesized ${path.join(app.outdir, "stacks", stackName)}: run terraform -chdir=<that folder> init, then apply.`);
