import { defineConfig } from "vitest/config";

// One Postgres for the whole run (test/global-setup.ts), one database per test file
// (test/support/database.ts). Forks rather than threads: native modules (argon2, pg) and child
// processes behave as in production. Two workers: CI has two cores, and each worker may run
// migrations and argon2 hashing, which are CPU-bound.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    pool: "forks",
    maxWorkers: 2,
    hookTimeout: 120_000,
    testTimeout: 60_000,
  },
});
