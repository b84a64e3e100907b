// Starts the bundled provider from V8's code cache. Terraform starts a provider 3 to 5 times per
// command, and compiling the bundle is a large share of each start; with the cache V8 skips it.
//
// The cache lives in the user's own cache folder (mode 0700), not next to the bundle: V8's cache
// differs from one write to the next, and Terraform checksums everything in the provider's
// folder, so a cache there would break every working directory's lock file at each rebuild. Its
// name hashes the bundle and the Node version, so a rebuilt bundle or another Node never reads a
// stale one (V8 would reject it anyway and compile as usual). The first start writes it.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const vm = require("node:vm");
const { createRequire, wrap } = require("node:module");

const bundle = path.join(__dirname, "provider.cjs");
const source = fs.readFileSync(bundle, "utf8");
const cacheFile = cachePath(source);
let cachedData;
try {
  cachedData = cacheFile ? fs.readFileSync(cacheFile) : undefined;
} catch {
  cachedData = undefined;
}
const script = new vm.Script(wrap(source), { filename: bundle, cachedData });
const mod = { exports: {} };
script.runInThisContext()(mod.exports, createRequire(bundle), mod, bundle, __dirname);
// A failure to start is one line on stderr (Terraform's provider log), not a stack trace
// quoting the minified bundle.
const started = mod.exports.start().catch((error) => {
  process.stderr.write(`apikeys provider: could not start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
if (cacheFile && (cachedData === undefined || script.cachedDataRejected)) {
  // After the handshake, so Terraform is not kept waiting; the cache then also holds every
  // function the start compiled. Written aside and renamed: providers start side by side.
  started.then(() => {
    try {
      const temporary = `${cacheFile}.${process.pid}`;
      fs.writeFileSync(temporary, script.createCachedData(), { mode: 0o600 });
      fs.renameSync(temporary, cacheFile);
    } catch {
      // No cache: the next start compiles as this one did.
    }
  });
}

function cachePath(text) {
  try {
    const dir = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "apikeys-terraform-provider");
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Someone else's folder could hold a crafted cache: use only a folder that is ours alone.
    const stat = fs.statSync(dir);
    if (stat.uid !== process.getuid() || (stat.mode & 0o077) !== 0) return undefined;
    const key = crypto.createHash("sha256").update(process.version).update(process.arch).update(text).digest("hex").slice(0, 32);
    return path.join(dir, `${key}.v8cache`);
  } catch {
    return undefined;
  }
}
