// A Postgres restarted and killed under load (fast, immediate, SIGKILL of the postmaster) must not
// take the server down: it keeps running, answers calls that need the database UNAVAILABLE (never
// INTERNAL) meanwhile, and serves cached verifications and writes again on its own. The suite runs
// a few restarts; `npm run bench:postgres-restarts` runs fifty.
import { describe, expect, it } from "vitest";
import { restartPostgresUnderLoad } from "./support/postgres-restarts.js";

const RESTARTS = 6; // two of each kind

describe("a Postgres restart under load", () => {
  it(`when Postgres is restarted ${RESTARTS} times, then the server survives each and serves from its caches again`, async () => {
    const report = await restartPostgresUnderLoad(RESTARTS);
    expect(report.rounds.map((r) => r.mode)).toEqual(["fast", "immediate", "kill", "fast", "immediate", "kill"]);
    // Every call either succeeded or was told to retry: UNAVAILABLE while the database was gone,
    // RESOURCE_EXHAUSTED while the caches were off and argon2's queue was full.
    for (const [kind, outcomes] of Object.entries(report.calls)) {
      expect(Object.keys(outcomes).filter((o) => !["ok", "Unavailable", "ResourceExhausted"].includes(o)), kind).toEqual([]);
      expect(outcomes.ok, kind).toBeGreaterThan(0);
    }
    expect(report.errorLines).toEqual([]);
    expect(report.exitCode).toBe(0);
  }, 600_000);
});
