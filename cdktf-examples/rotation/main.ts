// Rotating a key: bump ROTATION_VERSION and apply. In one apply Terraform creates the new key,
// writes its secret into the store, then deletes the old key, which keeps verifying for
// GRACE_PERIOD_SECONDS so the integration can pick up the new secret meanwhile.
import path from "node:path";
import { App, LocalBackend, TerraformStack } from "cdktf";
import { Access, ApiKey, ApikeysProvider, CommandStore } from "../../provider/cdktf/index.js";

const app = new App(); // output folder: CDKTF_OUTDIR, default cdktf.out
const stackName = process.env.STACK_NAME ?? "rotation";
const stack = new TerraformStack(app, stackName);
// Terraform state (holding no secret): STATE_PATH, default terraform.<stack>.tfstate here.
new LocalBackend(stack, { path: path.resolve(process.env.STATE_PATH ?? `terraform.${stackName}.tfstate`) });
const secretsDir = path.resolve(process.env.SECRETS_DIR ?? "secrets");

// Server and credentials come from APIKEYS_ENDPOINT and APIKEYS_TOKEN.
new ApikeysProvider(stack, "apikeys");

new ApiKey(stack, "GithubActionsDeploy", {
  name: "GitHub Actions staging deploy",
  access: Access.FULL,
  rotationVersion: Number(process.env.ROTATION_VERSION ?? "1"),
  gracePeriodSeconds: Number(process.env.GRACE_PERIOD_SECONDS ?? "300"),
  secretStores: [
    new CommandStore({
      command: 'umask 077; mkdir -p "$SECRETS_DIR"; cat > "$SECRETS_DIR/github-actions-staging-deploy.key"',
      environment: { SECRETS_DIR: secretsDir },
    }),
  ],
});

app.synth();
console.log(`Synthesized ${path.join(app.outdir, "stacks", stackName)}: run terraform -chdir=<that folder> init, then apply.`);
