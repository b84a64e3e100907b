// Postgres restarted and killed under load, fifty times by default: `bin/apikeys serve` on a
// cluster of its own, with cached verifications and admin writes running on both ports, while
// Postgres goes down by `pg_ctl restart -m fast`, `-m immediate` and SIGKILL of the postmaster in
// turn. Fails (exit 1) when the server dies or does not serve cached verifications and writes
// again on its own; prints each restart's times, the load's calls by outcome and the outage lines.
// test/postgres-restarts.test.ts runs the same with a few restarts.
//
//   npm run bench:postgres-restarts [-- COUNT]
import { buildServer } from "../server/build.js";
import { restartPostgresUnderLoad } from "../test/support/postgres-restarts.js";

const count = Number(process.argv[2] ?? 50);
if (!Number.isInteger(count) || count < 1) throw new Error(`COUNT must be a positive integer; got "${process.argv[2]}"`);

await buildServer(); // bin/apikeys runs the bundle: measure the sources as they are
const started = performance.now();
const report = await restartPostgresUnderLoad(count, (round, i) =>
  console.log(`restart ${String(i + 1).padStart(2)} ${round.mode.padEnd(9)} postgres back in ${round.postgresMs} ms, server serving cached verifications and writes ${round.recoveredMs} ms after the restart began`),
);
const seconds = Math.round((performance.now() - started) / 1000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
console.log(`\n${report.rounds.length} restarts in ${seconds} s; the server survived every one`);
for (const mode of ["fast", "immediate", "kill"]) {
  const times = report.rounds.filter((r) => r.mode === mode).map((r) => r.recoveredMs);
  if (times.length) console.log(`  ${mode.padEnd(9)} ×${times.length}: recovered in median ${median(times)} ms, max ${Math.max(...times)} ms`);
}
console.log("calls by outcome:");
for (const [kind, outcomes] of Object.entries(report.calls)) console.log(`  ${kind.padEnd(12)} ${JSON.stringify(outcomes)}`);
console.log(`outage lines: ${report.outageLines.length} (a start and an end per outage); error lines: ${report.errorLines.length}`);
for (const line of report.errorLines.slice(0, 10)) console.log(`  ${line}`);
console.log(`server exit code on SIGTERM: ${report.exitCode}`);
const unexpected = Object.values(report.calls).flatMap((o) => Object.keys(o)).filter((o) => !["ok", "Unavailable", "ResourceExhausted"].includes(o));
if (unexpected.length > 0 || report.errorLines.length > 0 || report.exitCode !== 0) process.exitCode = 1;
