// Starts the bundled provider from V8's code cache. Terraform starts a provider 3 to 5 times per
// command, and compiling the bundle is a large share of each start; the cache, written by the
// build from one warm start, lets V8 skip that work. A cache that no longer fits (another Node
// version) is rejected by V8 and the bundle compiles as usual.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const { createRequire, wrap } = require("node:module");

const bundle = path.join(__dirname, "provider.cjs");
const cacheFile = path.join(__dirname, "provider.v8cache");
let cachedData;
try {
  cachedData = fs.readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
const script = new vm.Script(wrap(fs.readFileSync(bundle, "utf8")), { filename: bundle, cachedData });
const mod = { exports: {} };
script.runInThisContext()(mod.exports, createRequire(bundle), mod, bundle, __dirname);
const started = mod.exports.start();
if (process.env.APIKEYS_PROVIDER_WRITE_CODE_CACHE === "1") {
  // Build time: after one start, the cache also holds every function the start compiled.
  started.then(() => {
    fs.writeFileSync(cacheFile, script.createCachedData());
    process.exit(0);
  });
}
