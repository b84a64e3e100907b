// Preloaded into a benchmarked server (NODE_OPTIONS=--require): counts the argon2 checks it runs,
// where it runs them (the argon2 package's verify), and writes the count to stderr on SIGUSR2, so
// the benchmark can tell how many checks a stretch of traffic cost without a metrics endpoint.
"use strict";
const argon2 = require("argon2");

let checks = 0;
const verify = argon2.verify;
argon2.verify = function countedVerify(...args) {
  checks++;
  return verify.apply(this, args);
};
process.on("SIGUSR2", () => process.stderr.write(`bench-argon2-checks ${checks}\n`));
