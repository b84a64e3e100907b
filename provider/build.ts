// Builds the provider into a directory Terraform can use offline: one bundled JavaScript file
// (so start-up loads no module graph: Terraform starts the provider several times per command)
// and the executable wrapper Terraform runs, laid out as a filesystem mirror. Prints the CLI
// configuration that points Terraform at it.
//
//   npm run build:provider            → dist/terraform-mirror/… and dist/terraformrc
//   npm run build:provider -- DIR     → the same under DIR (tests build into temporary folders)
import { spawn } from "node:child_process";
import { chmod, copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { createPluginCertificate } from "./protocol/certificate.js";
import { MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from "./protocol/handshake.js";
import { PROVIDER_SOURCE, PROVIDER_VERSION, providerPlatform } from "./provider-address.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.resolve(process.argv[2] ?? path.join(root, "dist"));
const mirror = path.join(out, "terraform-mirror");
const target = path.join(mirror, PROVIDER_SOURCE, PROVIDER_VERSION, providerPlatform());
const type = PROVIDER_SOURCE.split("/")[2]!;

await rm(mirror, { recursive: true, force: true });
await mkdir(target, { recursive: true });
await build({
  entryPoints: [path.join(root, "provider", "main.ts")],
  outfile: path.join(target, "provider.cjs"),
  bundle: true,
  platform: "node",
  // CommonJS, so that launcher.cjs can compile it with V8's code cache (vm.Script).
  format: "cjs",
  target: "node20",
  minify: true,
  legalComments: "none",
  // grpc-js requires proto-loader (and through it protobufjs, a third of the bundle) only to serve
  // channelz and ORCA, which the provider never does; leaving it out shortens every start.
  external: ["@grpc/proto-loader"],
  logLevel: "warning",
});
await copyFile(path.join(root, "provider", "launcher.cjs"), path.join(target, "launcher.cjs"));
// One start as Terraform would make it, so that the first real start finds the code cache.
await primeCodeCache(path.join(target, "launcher.cjs"));

// Terraform runs this file. `exec` replaces the shell, so Terraform's pipes and signals reach node
// directly (a shell left in between keeps the pipes open and Terraform waits forever). The node
// that built the provider runs it, whatever PATH Terraform passes on.
const executable = path.join(target, `terraform-provider-${type}_v${PROVIDER_VERSION}`);
await writeFile(executable, `#!/bin/sh\nexec "${process.execPath}" "$(dirname "$0")/launcher.cjs" "$@"\n`);
await chmod(executable, 0o755);

const cliConfig = `provider_installation {
  filesystem_mirror {
    path    = "${mirror}"
    include = ["${PROVIDER_SOURCE}"]
  }
  direct {
    exclude = ["${PROVIDER_SOURCE}"]
  }
}
`;
await writeFile(path.join(out, "terraformrc"), cliConfig);
process.stdout.write(
  `Built ${PROVIDER_SOURCE} ${PROVIDER_VERSION} into ${target}\n\n` +
    `Point Terraform at it (the same text is in ${path.join(out, "terraformrc")}):\n\n  export TF_CLI_CONFIG_FILE=${path.join(out, "terraformrc")}\n\n${cliConfig}`,
);

/** Starts the provider once with a throwaway client certificate; its first start writes the cache. */
function primeCodeCache(launcher: string): Promise<void> {
  const child = spawn(process.execPath, [launcher], {
    env: { ...process.env, [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE, PLUGIN_CLIENT_CERT: createPluginCertificate().certPem },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => (code === null ? resolve() : reject(new Error(`the provider exited with ${code} before its handshake`))));
    // The cache is written right after the handshake line; give it a moment, then stop.
    child.stdout.once("data", () => setTimeout(() => child.kill("SIGKILL"), 500));
  });
}
