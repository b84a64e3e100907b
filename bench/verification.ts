// What VerifyApiKey costs, from one run, against the server as an operator starts it
// (`bin/apikeys serve`, embedded Postgres, default argon2 cost, log level warn), with the load
// generated in other processes at a fixed concurrency: h2load (one thread, 4 connections × 16
// streams) sending one fixed request over h2c, after a real client has checked the answer to that
// request; bench/loadgen.ts where every call needs another key. Scenarios: the gRPC health check
// (the ceiling) and cached verification, in alternating rounds; first (cold) verification, a
// malformed token, an unknown id, 1,000 against 1,000,000 keys in the table (each in rounds
// alternating with the health check), cached verification
// under a wrong-secret flood in rounds alternating with cached verification alone, Connect JSON on
// the HTTP port, and memory per cached key (on a second server); then, on
// a third server, a service's traffic (scenarios 10-15: 10,000 and 100,000 keys in rotation beside
// one key repeated, Connect JSON on HTTP/1.1 and h2c against gRPC, the argon2 checks run in steady
// state, and a fresh replica taking over), each group alternating with the health check sent by the
// same client (one grpc-js process: it tends to be the bottleneck, so compare server CPU per call). It
// prints each figure, the ratios the targets are about, and whether each target is met;
// a missed target does not fail the run, a wrong answer does. h2load repeats one request, so past
// its first call the server sends the answer it kept for that call (server/verify/answer-cache.ts),
// as it does for a service repeating a verification.
//
//   npm run bench:verify     (BENCH_SECONDS, BENCH_ROUNDS, BENCH_WARMUP_SECONDS, BENCH_COLD_KEYS, BENCH_MEMORY_KEYS,
//                             BENCH_ROTATION_KEYS, BENCH_LARGE_ROTATION_KEYS override the sizes; BENCH_ONLY picks groups)
import { create, fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import argon2 from "argon2";
import pg from "pg";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import {
  VerificationStatus,
  VerifyApiKeyRequestSchema,
  VerifyApiKeyResponseSchema,
} from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { inspectToken, mintToken, tokenHint } from "../contract/key-format.js";
import { ensureH2load, quantile, startH2load, type H2loadResult } from "./h2load.js";
import { connectInspector } from "./inspector.js";
import type { LoadgenConfig, LoadgenProtocol, LoadgenResult } from "./loadgen.js";
import { connectJsonClient, grpcClient, grpcFrame, healthCheck, replay, type RawAnswer } from "./rpc.js";
import { cli, cpuSeconds, databaseUrl, descendantCpu, ROOT, rssBytes, sleep, startServer, type BenchServer } from "./serve.js";

const SECONDS = positive("BENCH_SECONDS", 8);
// The ceiling and cached verification are measured in alternating rounds, so that each pair runs
// under the same load from the machine's other tenants; the ratio is the median of the rounds'.
const ROUNDS = positive("BENCH_ROUNDS", 5);
// Before those rounds each runs this long first: a server's cached path takes a few seconds of
// load to reach its steady state (JIT tiers, heap sizing), which is what a running service sees.
const ALTERNATING_WARMUP_SECONDS = positive("BENCH_WARMUP_SECONDS", 10);
const WARMUP_SECONDS = 1;
const CLIENTS = 4;
const STREAMS = 16;
const COLD_KEYS = positive("BENCH_COLD_KEYS", 300);
const MEMORY_KEYS = positive("BENCH_MEMORY_KEYS", 20_000);
const MEMORY_WARM_KEYS = 1_000;
const MEMORY_SECOND_PASS = 2_000;
const SMALL_TABLE = 1_000;
const LARGE_TABLE = 1_000_000;
const SCOPE = "orders:read";
// Scenarios 10-15: keys in rotation, half FULL and half CUSTOM with these scopes, each key with one
// of these required scope lists and the answer it must get.
const ROTATION_KEYS = positive("BENCH_ROTATION_KEYS", 10_000);
const LARGE_ROTATION_KEYS = positive("BENCH_LARGE_ROTATION_KEYS", 100_000);
const CUSTOM_SCOPES = ["orders:read", "orders:write"];
const CUSTOM_REQUESTS: ReadonlyArray<readonly [readonly string[], string]> = [
  [["orders:read"], "VALID"],
  [["orders:read", "orders:write"], "VALID"],
  [["customers:read"], "INSUFFICIENT_SCOPE"],
  [["orders:write", "reports:export"], "INSUFFICIENT_SCOPE"],
];
const FULL_REQUESTS: ReadonlyArray<readonly [readonly string[], string]> = [
  [["customers:write"], "VALID"],
  [["reports:export", "orders:read"], "VALID"],
  [[], "VALID"],
];
const RESTART_BEFORE_SECONDS = 10;
const RESTART_AFTER_SECONDS = 25;
// The traffic servers count their argon2 checks (bench/argon2-counter.cjs).
const COUNTED = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require ${path.join(ROOT, "bench", "argon2-counter.cjs")}`.trim() };
// Which groups run: BENCH_ONLY=main,memory,traffic,large (all by default). main: 1-8; memory: 9;
// traffic: 10-13 and 15 (10,000 keys, Connect JSON, restart); large: 14 (100,000 keys);
// restart: 15 alone (not in the default run, which has it in traffic).
const GROUPS = ["main", "memory", "traffic", "large", "restart"];
const only = new Set((process.env.BENCH_ONLY ?? "main,memory,traffic,large").split(",").map((g) => g.trim()));
for (const g of only) if (!GROUPS.includes(g)) throw new Error(`BENCH_ONLY: unknown group "${g}" (groups: ${GROUPS.join(", ")})`);
// The memory server keeps every entry for the whole scenario (10 minutes unused, as by default).
const MEMORY_SERVER_ENV = { APIKEYS_CACHE_TTL_MS: "600000" };
const VERIFY = "/apikeys.v1.ApiKeyService/VerifyApiKey";
const HEALTH = "/grpc.health.v1.Health/Check";
// Postgres statistics reach pg_stat_database within a second of a backend going idle.
const STATS_SETTLE_MS = 1_100;

function positive(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

/** A wrong answer: the figures would not be about what they claim to measure. */
class CheckFailed extends Error {
  override name = "CheckFailed";
}
function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new CheckFailed(message);
}

const started = performance.now();
const progress = (msg: string) => console.error(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${msg}`);

// --- what one scenario reports ---

interface Row {
  readonly id: string;
  readonly name: string;
  readonly reqPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  /** Cores the server process used on average while the load ran. */
  readonly serverCores: number;
  /** Cores its embedded Postgres used meanwhile: work that competes for the same two cores. */
  readonly postgresCores: number;
  readonly cpuUsPerReq: number;
  /** Transactions on the server's database per request (pg_stat_database), less its idle rate. */
  readonly dbTxPerReq: number;
  /** Cores the load generator (h2load) used. */
  readonly generatorCores: number;
  readonly note: string;
}

interface Cost {
  readonly serverCores: number;
  /** Cores the server's embedded Postgres used meanwhile (its processes alive before and after). */
  readonly postgresCores: number;
  readonly cpuUsPerReq: number;
  readonly dbTxPerReq: number;
}

/** Wrong answers and crashes: the run fails. */
const failures: string[] = [];
/** What looked wrong in the server under load (refusals, errors in the log): reported only. */
const findings: string[] = [];
const rows: Row[] = [];
/** Throughput ratios of alternating scenarios, one per round ("2/1": cached over health). */
const roundRatios = new Map<string, number[]>();
/** Servers not stopped yet, for an interrupted run. */
const liveServers = new Set<BenchServer>();
const cleanups: Array<() => Promise<unknown> | unknown> = [];

// --- scenarios 1 to 8, on a server with the default argon2 cost ---

function mainServerScenarios(): Promise<void> {
  return scoped(async (defer) => {
    progress(`starting bin/apikeys serve (embedded Postgres in ${file("main")}, default argon2 cost, log level warn)`);
    const server = await startServer(file("main"));
    liveServers.add(server);
    defer(() => stopServer(server, "main"));
    progress(`serving: gRPC on ${server.grpcPort}, HTTP on ${server.httpPort}, server pid ${server.pid}`);
    const owner = await cli(server.dataDir, ["bootstrap", "--workspace", "Bench", "--owner", "bench-owner"]);
    const service = await cli(server.dataDir, ["services", "add", "--name", "bench-gateway"]);
    const db = new pg.Client({ connectionString: await databaseUrl(server.dataDir) });
    db.on("error", () => {}); // the server stops its cluster at the end
    await db.connect();
    defer(() => db.end());

    const grpcApi = grpcClient(server.grpcPort);
    const jsonApi = connectJsonClient(server.httpPort);
    const asService = { headers: { authorization: `Bearer ${service}` } };
    const verifyStatus = async (key: string, api = grpcApi) => {
      try {
        return VerificationStatus[(await api.verifyApiKey({ key, requiredScopes: [SCOPE] }, asService)).status];
      } catch (err) {
        return Code[ConnectError.from(err).code];
      }
    };

    progress(`creating the measured key and ${COLD_KEYS + 1} keys for first verifications (CreateApiKey, argon2 at the server's cost)`);
    const [measured] = await createKeys(server.grpcPort, owner, 1, "measured");
    const coldKeys = await createKeys(server.grpcPort, owner, COLD_KEYS + 1, "cold");
    const prefix = measured!.secret.slice(0, measured!.secret.indexOf("_"));
    argon2Server = await argon2Settings(db, measured!.id);
    const filler = await fillTable(db, measured!.id, prefix, SMALL_TABLE);
    progress(`api_keys holds ${SMALL_TABLE} rows (${filler.added} filler rows added); measuring the idle server's own database transactions`);
    idleTx.main = await measureBackgroundTx(db);

    const grpcHeaders = { "content-type": "application/grpc", te: "trailers", authorization: `Bearer ${service}` };
    const grpcUrl = (p: string) => `http://127.0.0.1:${server.grpcPort}${p}`;
    const verifyBody = (key: string) => grpcFrame(toBinary(VerifyApiKeyRequestSchema, create(VerifyApiKeyRequestSchema, { key, requiredScopes: [SCOPE] })));
    const expectVerify = (want: VerificationStatus) => (a: RawAnswer) => {
      check(a.status === 200 && a.grpcStatus === "0", `expected grpc-status 0, got HTTP ${a.status} grpc-status ${a.grpcStatus} ${a.grpcMessage ?? ""}`);
      const status = fromBinary(VerifyApiKeyResponseSchema, a.body.subarray(5)).status;
      check(status === want, `expected ${VerificationStatus[want]}, got ${VerificationStatus[status]}`);
    };
    const realVerify = (key: string, want: VerificationStatus, api = grpcApi) => async () => {
      const got = await verifyStatus(key, api);
      check(got === VerificationStatus[want], `VerifyApiKey answered ${got}, expected ${VerificationStatus[want]}`);
    };
    const cachedScenario = (id: string, name: string) => ({
      id, name, server, db,
      url: grpcUrl(VERIFY), body: verifyBody(measured!.secret), headers: grpcHeaders,
      realCheck: realVerify(measured!.secret, VerificationStatus.VALID),
      answerCheck: expectVerify(VerificationStatus.VALID),
    });

    const healthScenario = (id: string, name: string) => ({
      id, name, server, db,
      url: grpcUrl(HEALTH), body: grpcFrame(new Uint8Array()), headers: { "content-type": "application/grpc", te: "trailers" },
      realCheck: async () => check((await healthCheck(server.grpcPort)) === 1, "Health/Check did not answer SERVING"),
      answerCheck: (a: RawAnswer) => check(a.status === 200 && a.grpcStatus === "0" && a.body.equals(grpcFrame(Uint8Array.of(0x08, 0x01))), `Health/Check answered HTTP ${a.status} grpc-status ${a.grpcStatus}`),
    });

    // 1. The ceiling: the cheapest RPC the stack answers, and 2. cached verification: one valid
    // key, verified (warmed) before the measurement; in alternating rounds.
    await alternate([await h2Runner(healthScenario("1", "gRPC health check (ceiling)")), await h2Runner(cachedScenario("2", "cached verification (1 key, warm)"))]);

    // 4. A malformed token: the measured key with a wrong checksum.
    const last = measured!.secret.at(-1)!;
    const malformed = measured!.secret.slice(0, -1) + (last === "0" ? "1" : "0");
    check(inspectToken(malformed, prefix) === "checksum", "the malformed token is not a checksum error");
    await h2loadScenario({
      id: "4", name: "malformed token (bad checksum)", server, db,
      url: grpcUrl(VERIFY), body: verifyBody(malformed), headers: grpcHeaders,
      realCheck: realVerify(malformed, VerificationStatus.MALFORMED),
      answerCheck: expectVerify(VerificationStatus.MALFORMED),
    });

    // 5. An unknown id: a well-formed token whose id does not exist.
    const unknown = mintToken(prefix);
    await h2loadScenario({
      id: "5", name: "unknown id (well-formed)", server, db,
      url: grpcUrl(VERIFY), body: verifyBody(unknown), headers: grpcHeaders,
      realCheck: realVerify(unknown, VerificationStatus.NOT_FOUND),
      answerCheck: expectVerify(VerificationStatus.NOT_FOUND),
    });

    // 8. The same cached verification, Connect JSON over h2c on the HTTP port.
    const jsonRequest = toJsonString(VerifyApiKeyRequestSchema, create(VerifyApiKeyRequestSchema, { key: measured!.secret, requiredScopes: [SCOPE] }));
    await h2loadScenario({
      id: "8", name: "cached verification, Connect JSON, HTTP port", server, db,
      url: `http://127.0.0.1:${server.httpPort}${VERIFY}`, body: Buffer.from(jsonRequest),
      headers: { "content-type": "application/json", authorization: `Bearer ${service}` },
      realCheck: realVerify(measured!.secret, VerificationStatus.VALID, jsonApi),
      answerCheck: (a) => {
        check(a.status === 200, `Connect JSON answered HTTP ${a.status}: ${a.body.toString()}`);
        const status = (JSON.parse(a.body.toString()) as { status?: string }).status;
        check(status === "VERIFICATION_STATUS_VALID", `Connect JSON answered status ${status}`);
      },
    });

    // 7. Cached verification while another h2load floods wrong secrets for the same key id.
    const wrongSecret = mintToken(prefix, measured!.id);
    await floodScenario(cachedScenario("7", "cached verification under a wrong-secret flood"), {
      body: verifyBody(wrongSecret),
      realCheck: realVerify(wrongSecret, VerificationStatus.NOT_FOUND),
      answerCheck: expectVerify(VerificationStatus.NOT_FOUND),
      sample: async () => [await verifyStatus(wrongSecret), await verifyStatus(measured!.secret)],
    });

    // 3. First (cold) verification: every call verifies another key, each once.
    const [probe, ...cold] = coldKeys;
    progress(`3 first verification: checking one fresh key with a real client`);
    await realVerify(probe!.secret, VerificationStatus.VALID)();
    progress(`3 first verification: ${cold.length} fresh keys, once each, from bench/loadgen.ts (grpc-js, ${CLIENTS} connections × ${STREAMS} streams)`);
    const coldRun = await measure(server, db, async () => {
      const r = await loadgen(server.grpcPort, service, cold.map((k) => k.secret), false);
      return { ...r, requests: Object.values(r.outcomes).reduce((a, b) => a + b, 0) };
    });
    // Refusals (RESOURCE_EXHAUSTED from a full argon2 pool) are the server's choice, not a wrong
    // answer: reported, with their own latency, while req/s and the percentiles are of VALID answers.
    const valid = coldRun.outcomes.VALID ?? 0;
    const validLatency = coldRun.byOutcome.VALID;
    const others = Object.entries(coldRun.byOutcome).filter(([k]) => k !== "VALID");
    if (others.some(([k]) => k !== "RESOURCE_EXHAUSTED")) failures.push(`3 first verification: ${describeOutcomes(coldRun.outcomes)} of ${cold.length} fresh keys`);
    rows.push({
      id: "3", name: "first (cold) verification, distinct keys",
      reqPerSec: valid / (coldRun.elapsedMs / 1000), p50Ms: validLatency?.p50Ms ?? Number.NaN, p99Ms: validLatency?.p99Ms ?? Number.NaN, requests: coldRun.requests,
      serverCores: coldRun.serverCores, postgresCores: coldRun.postgresCores, cpuUsPerReq: coldRun.cpuUsPerReq, dbTxPerReq: coldRun.dbTxPerReq, generatorCores: Number.NaN,
      note:
        `loadgen; ${describeOutcomes(coldRun.outcomes)}; req/s, p50, p99 of VALID answers` +
        others.map(([k, l]) => `; ${k} p50 ${l.p50Ms.toFixed(1)} p99 ${l.p99Ms.toFixed(1)} ms`).join(""),
    });

    // 6. 1,000 against 1,000,000 keys in the table. The two are minutes apart, and this host's load
    // moves raw throughput more than that, so each alternates with the health check, and what is
    // compared is each one's share of the ceiling at the time.
    await alternate([
      await h2Runner(healthScenario("6ah", "gRPC health check, alongside 6a")),
      await h2Runner(cachedScenario("6a", `cached verification, ${SMALL_TABLE.toLocaleString("en")} keys in the table`)),
    ]);
    progress(`6 inserting filler rows up to ${LARGE_TABLE.toLocaleString("en")} keys (insert ... select from generate_series), then VACUUM ANALYZE and CHECKPOINT`);
    const t0 = performance.now();
    const large = await fillTable(db, measured!.id, prefix, LARGE_TABLE);
    await db.query("VACUUM ANALYZE api_keys");
    await db.query("CHECKPOINT"); // so that writing the new rows out does not compete with 6b
    progress(`6 inserted ${large.added.toLocaleString("en")} rows, vacuumed and checkpointed in ${((performance.now() - t0) / 1000).toFixed(1)} s; waiting for Postgres to be idle`);
    progress(`6 Postgres idle after ${(await untilPostgresIdle(server)).toFixed(0)} s`);
    await alternate([
      await h2Runner(healthScenario("6bh", "gRPC health check, alongside 6b")),
      await h2Runner(cachedScenario("6b", `cached verification, ${LARGE_TABLE.toLocaleString("en")} keys in the table`)),
    ]);
  });
}

interface H2Scenario {
  readonly id: string;
  readonly name: string;
  readonly server: BenchServer;
  readonly db: pg.Client;
  readonly url: string;
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  /** Checks the answer with a real client (grpc-js or connect-node); throws CheckFailed. */
  readonly realCheck: () => Promise<void>;
  /** Checks the answer to h2load's exact request, replayed once with node:http2. */
  readonly answerCheck: (answer: RawAnswer) => void;
}

/** Checks the answers, warms up, then measures with h2load; adds the row. */
async function h2loadScenario(s: H2Scenario): Promise<void> {
  const prepared = await prepare(s);
  progress(`${s.id} ${s.name}: h2load, ${WARMUP_SECONDS} s warm-up then ${SECONDS} s`);
  await startH2load(h2run(s, prepared.bodyFile, WARMUP_SECONDS));
  rows.push(await h2loadRow(s, prepared));
}

/** One measured h2load run of `s` (already prepared), as a row. */
async function h2loadRow(s: H2Scenario, prepared: Prepared): Promise<Row> {
  const r = await measure(s.server, s.db, async () => {
    const result = await startH2load(h2run(s, prepared.bodyFile, SECONDS));
    return { ...result, requests: result.done };
  });
  if (s.id === "2") exampleCommand = r.command;
  const unlike = answersUnlike(s, r, prepared.answerSize);
  return { ...r, id: s.id, name: s.name, note: unlike ? `${unlike} answers unlike the checked one` : "" };
}

/** A scenario measured in rounds beside others: its warm-up, and one measured run as a row. */
interface Runner {
  readonly id: string;
  readonly name: string;
  warm(): Promise<unknown>;
  run(): Promise<Row>;
}

/** An h2load scenario as a runner (its answers checked first). */
async function h2Runner(s: H2Scenario): Promise<Runner> {
  const prepared = await prepare(s);
  return { id: s.id, name: s.name, warm: () => startH2load(h2run(s, prepared.bodyFile, ALTERNATING_WARMUP_SECONDS)), run: () => h2loadRow(s, prepared) };
}

/**
 * Rounds of each runner in turn (after a longer warm-up of each), so that all of them run under
 * the same load from the machine's other tenants; adds their rows and, per round, each one's
 * throughput over the first's (the health check's), as roundRatios "id/first".
 */
async function alternate(runners: Runner[], warmedUp?: () => Promise<void>): Promise<void> {
  for (const r of runners) {
    progress(`${r.id} ${r.name}: warm-up, ${ALTERNATING_WARMUP_SECONDS} s`);
    await r.warm();
  }
  await warmedUp?.();
  const runs = runners.map((): Row[] => []);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [i, r] of runners.entries()) {
      progress(`${r.id} ${r.name}: round ${round} of ${ROUNDS}, ${SECONDS} s`);
      runs[i]!.push(await r.run());
    }
  }
  for (const [i, r] of runners.entries()) {
    if (i > 0) roundRatios.set(`${r.id}/${runners[0]!.id}`, runs[i]!.map((row, k) => row.reqPerSec / runs[0]![k]!.reqPerSec));
  }
  rows.push(...runs.map(mergeRounds));
}

/** One row for several rounds of a scenario: totals and weighted means, medians of the percentiles. */
function mergeRounds(rounds: Row[]): Row {
  const requests = rounds.reduce((sum, r) => sum + r.requests, 0);
  const weighted = (k: "cpuUsPerReq" | "dbTxPerReq") => rounds.reduce((sum, r) => sum + r[k] * r.requests, 0) / requests;
  const mean = (k: "serverCores" | "postgresCores" | "generatorCores") => rounds.reduce((sum, r) => sum + r[k], 0) / rounds.length;
  return {
    ...rounds[0]!,
    reqPerSec: requests / rounds.reduce((sum, r) => sum + r.requests / r.reqPerSec, 0),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    requests,
    serverCores: mean("serverCores"),
    postgresCores: mean("postgresCores"),
    cpuUsPerReq: weighted("cpuUsPerReq"),
    dbTxPerReq: weighted("dbTxPerReq"),
    generatorCores: mean("generatorCores"),
    note: [`${rounds.length} rounds: ${rounds.map((r) => r.reqPerSec.toFixed(0)).join(", ")} req/s; p50, p99: medians`, ...rounds.map((r) => r.note).filter(Boolean)].join("; "),
  };
}

const median = (values: number[]) => quantile(values, 0.5);

/** The request body's file, and the size of the checked answer. */
interface Prepared {
  readonly answerSize: number;
  readonly bodyFile: string;
}

async function prepare(s: H2Scenario): Promise<Prepared> {
  progress(`${s.id} ${s.name}: checking the answer with a real client`);
  await s.realCheck();
  const answer = await replay(s.url, s.body, s.headers);
  s.answerCheck(answer);
  const bodyFile = file(`request-${s.id}.bin`);
  writeFileSync(bodyFile, s.body);
  return { answerSize: answer.body.length, bodyFile };
}

const h2run = (s: H2Scenario, bodyFile: string, seconds: number) => ({
  url: s.url, bodyFile, headers: s.headers, clients: CLIENTS, streams: STREAMS, seconds, logFile: file(`h2load-${s.id}.log`),
});

/**
 * h2load counts any HTTP 200 as a success, even with an error in the gRPC trailers. Every answer
 * like the checked one carries a body of the checked size, and an error answer (trailers only)
 * none, so the body bytes h2load received tell how many answers were something else.
 */
function answersUnlike(s: Pick<H2Scenario, "id" | "name">, r: H2loadResult, answerSize: number, expectAllLike = true): number {
  const where = `${s.id} ${s.name}`;
  if (r.failed + r.errored + r.timeout > 0) findings.push(`${where}: h2load reports ${r.failed} failed, ${r.errored} errored, ${r.timeout} timed out`);
  if (r.statusOther > 0) findings.push(`${where}: ${r.statusOther} answers with an HTTP status other than 2xx`);
  const like = r.dataBytes / answerSize;
  if (!Number.isInteger(like)) {
    findings.push(`${where}: answers of another size than the checked answer (${r.dataBytes} body bytes, ${answerSize} per answer)`);
    return Number.NaN;
  }
  const unlike = r.status2xx - like;
  if (unlike !== 0 && expectAllLike) findings.push(`${where}: ${unlike} of ${r.status2xx} answers were not the checked answer (an error in the trailers?)`);
  return unlike;
}

/**
 * Runs `work` and adds what the server spent on it: CPU (from /proc) and database transactions
 * beyond its idle rate (heartbeats, reloads: see backgroundTx). `elapsedMs`, when the work reports
 * it, is the loaded time (a child's start-up excluded) that the cores figure divides by.
 */
async function measure<T extends { requests: number; elapsedMs?: number }>(server: BenchServer, db: pg.Client, work: () => Promise<T>): Promise<T & Cost> {
  await sleep(STATS_SETTLE_MS);
  const tx0 = await transactions(db);
  const read0 = performance.now();
  const cpu0 = cpuSeconds(server.pid);
  const pg0 = descendantCpu(server.pid);
  const t0 = performance.now();
  const result = await work();
  const wall = (result.elapsedMs ?? performance.now() - t0) / 1000;
  const cpu = cpuSeconds(server.pid) - cpu0;
  const postgresCores = cpuSince(pg0, descendantCpu(server.pid)) / wall;
  await sleep(STATS_SETTLE_MS);
  const tx = (await transactions(db)) - tx0 - 1; // less our own reading
  const idle = (backgroundTx.get(db) ?? 0) * ((performance.now() - read0) / 1000);
  return { ...result, serverCores: cpu / wall, postgresCores, cpuUsPerReq: (cpu * 1e6) / result.requests, dbTxPerReq: Math.max(0, tx - idle) / result.requests };
}

/** CPU seconds the processes alive at both readings spent between them. */
function cpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? seconds);
  return total;
}

/**
 * Waits (at most a minute) until the server's Postgres uses under 5 % of a core over 2 s: after a
 * million rows were written, its background work would otherwise share the cores with the next run.
 */
async function untilPostgresIdle(server: BenchServer): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < 60_000) {
    const before = descendantCpu(server.pid);
    await sleep(2_000);
    if (cpuSince(before, descendantCpu(server.pid)) / 2 < 0.05) break;
  }
  return (performance.now() - started) / 1000;
}

/** Transactions per second an idle server runs on its own, by database client. */
const backgroundTx = new Map<pg.Client, number>();

/** Measures the idle server's own transaction rate over a few seconds. */
async function measureBackgroundTx(db: pg.Client): Promise<number> {
  await sleep(STATS_SETTLE_MS);
  const tx0 = await transactions(db);
  const t0 = performance.now();
  await sleep(4_000);
  const rate = ((await transactions(db)) - tx0 - 1) / ((performance.now() - t0) / 1000);
  backgroundTx.set(db, rate);
  return rate;
}

async function transactions(db: pg.Client): Promise<number> {
  const { rows: [row] } = await db.query<{ n: string }>(
    "SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()",
  );
  return Number(row!.n);
}

/**
 * Scenario 7: the cached run again, with a flood of wrong secrets for the same id, in rounds that
 * alternate with the cached run alone (7b), so that each ratio compares runs of the same minute.
 */
async function floodScenario(
  s: H2Scenario,
  flood: Pick<H2Scenario, "body" | "realCheck" | "answerCheck"> & { sample: () => Promise<[string | undefined, string | undefined]> },
): Promise<void> {
  const floodScenario: H2Scenario = { ...s, ...flood, id: "7f", name: "wrong-secret flood (same key id)" };
  const alone: H2Scenario = { ...s, id: "7b", name: "cached verification, alternating with 7" };
  const cachedPrep = await prepare(s);
  const floodPrep = await prepare(floodScenario);
  progress(`7 flood: two h2load processes at once (cached verification, wrong secrets for the same id), ${WARMUP_SECONDS} s warm-up`);
  await Promise.all([startH2load(h2run(s, cachedPrep.bodyFile, WARMUP_SECONDS)), startH2load(h2run(floodScenario, floodPrep.bodyFile, WARMUP_SECONDS))]);
  const samples = { flood: new Map<string, number>(), cached: new Map<string, number>() };
  const fmt = (m: Map<string, number>) => [...m].map(([k, v]) => `${v} ${k}`).join(", ") || "none";
  const rounds: { alone: Row[]; cached: Row[]; flooding: Row[] } = { alone: [], cached: [], flooding: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    progress(`7b cached verification alone, round ${round} of ${ROUNDS}, ${SECONDS} s`);
    rounds.alone.push(await h2loadRow(alone, cachedPrep));

    progress(`7 cached verification under the flood, round ${round} of ${ROUNDS}, ${SECONDS} s`);
    const r = await measure(s.server, s.db, async () => {
      let running = true;
      // A real client samples both streams meanwhile, a few calls a second.
      const sampler = (async () => {
        await sleep(500);
        while (running) {
          const [f, c] = await flood.sample();
          samples.flood.set(f ?? "?", (samples.flood.get(f ?? "?") ?? 0) + 1);
          samples.cached.set(c ?? "?", (samples.cached.get(c ?? "?") ?? 0) + 1);
          await sleep(100);
        }
      })();
      const [cached, flooding] = await Promise.all([
        startH2load(h2run(s, cachedPrep.bodyFile, SECONDS)),
        startH2load(h2run(floodScenario, floodPrep.bodyFile, SECONDS)),
      ]).finally(() => (running = false));
      await sampler;
      return { cached, flooding, requests: cached.done + flooding.done };
    });
    const cachedUnlike = answersUnlike(s, r.cached, cachedPrep.answerSize);
    const floodUnlike = answersUnlike(floodScenario, r.flooding, floodPrep.answerSize, false);
    rounds.cached.push({
      id: "7", name: s.name, reqPerSec: r.cached.reqPerSec, p50Ms: r.cached.p50Ms, p99Ms: r.cached.p99Ms, requests: r.cached.done,
      serverCores: r.serverCores, postgresCores: r.postgresCores, cpuUsPerReq: r.cpuUsPerReq, dbTxPerReq: r.dbTxPerReq, generatorCores: r.cached.generatorCores,
      note: cachedUnlike ? `${cachedUnlike} answers unlike the checked one` : "",
    });
    rounds.flooding.push({
      id: "7f", name: floodScenario.name, reqPerSec: r.flooding.reqPerSec, p50Ms: r.flooding.p50Ms, p99Ms: r.flooding.p99Ms, requests: r.flooding.done,
      serverCores: Number.NaN, postgresCores: Number.NaN, cpuUsPerReq: Number.NaN, dbTxPerReq: Number.NaN, generatorCores: r.flooding.generatorCores,
      note: `${Number.isNaN(floodUnlike) ? "?" : r.flooding.status2xx - floodUnlike} NOT_FOUND, ${Number.isNaN(floodUnlike) ? "?" : floodUnlike} errors (RESOURCE_EXHAUSTED or other) by body size`,
    });
  }
  roundRatios.set("7/7b", rounds.cached.map((r, i) => r.reqPerSec / rounds.alone[i]!.reqPerSec));
  roundRatios.set("7/7b p99", rounds.cached.map((r, i) => r.p99Ms / rounds.alone[i]!.p99Ms));
  const cached = mergeRounds(rounds.cached);
  const flooding = mergeRounds(rounds.flooding);
  rows.push(
    mergeRounds(rounds.alone),
    { ...cached, note: `${cached.note}; CPU and tx per request of both streams; real-client sample: ${fmt(samples.cached)}` },
    { ...flooding, note: `${flooding.note}; real-client sample: ${fmt(samples.flood)}` },
  );
}

// --- scenarios 10 to 15: a service's traffic, on a third server with the default argon2 cost ---
// Many distinct keys in rotation (FULL and CUSTOM, varied required scopes, some insufficient),
// beside one key repeated and the health check, over gRPC and Connect JSON; the argon2 checks the
// server runs meanwhile (counted by bench/argon2-counter.cjs); then a fresh replica taking over.

interface Traffic {
  readonly tokens: string[];
  readonly scopes: string[][];
  readonly expected: string[];
}

/** Steady-state argon2 checks while keys rotate and none changes, per scenario group. */
const steadyArgon2: Array<{ readonly group: string; readonly checks: number; readonly seconds: number; readonly calls: number }> = [];

function trafficScenarios(): Promise<void> {
  return scoped(async (defer) => {
    progress(`10-15 traffic: starting a third server (default argon2 cost, argon2 checks counted by bench/argon2-counter.cjs)`);
    const server = await startServer(file("traffic"), COUNTED);
    liveServers.add(server);
    defer(() => stopServer(server, "traffic"));
    const owner = await cli(server.dataDir, ["bootstrap", "--workspace", "Bench", "--owner", "bench-owner"]);
    const service = await cli(server.dataDir, ["services", "add", "--name", "bench-gateway"]);
    const db = new pg.Client({ connectionString: await databaseUrl(server.dataDir) });
    db.on("error", () => {});
    await db.connect();
    defer(() => db.end());
    const api = grpcClient(server.grpcPort);
    const asOwner = { headers: { authorization: `Bearer ${owner}` } };
    const full = await api.createApiKey({ name: "bench full template", access: AccessLevel.FULL }, asOwner);
    const custom = await api.createApiKey({ name: "bench custom template", access: AccessLevel.CUSTOM, scopes: CUSTOM_SCOPES }, asOwner);
    const prefix = full.secret.slice(0, full.secret.indexOf("_"));
    const params = await argon2Settings(db, full.apiKey!.id);
    argon2Server ??= params;
    idleTx.traffic = await measureBackgroundTx(db);
    const traffic: Traffic = { tokens: [], scopes: [], expected: [] };
    /** Inserts keys until `n` rotate, alternately FULL and CUSTOM, each with its required scopes. */
    const grow = async (n: number) => {
      const more = n - traffic.tokens.length;
      progress(`traffic: hashing ${more.toLocaleString("en")} keys here (argon2id ${params}, as the server does) and inserting them`);
      const half = Math.ceil(more / 2);
      const [fulls = []] = await insertKeys(db, full.apiKey!.id, prefix, params, [half]);
      const [customs = []] = await insertKeys(db, custom.apiKey!.id, prefix, params, [more - half]);
      for (let i = 0; i < more; i++) {
        const isFull = i % 2 === 0;
        const key = (isFull ? fulls : customs)[Math.floor(i / 2)]!;
        const [scopes, expected] = (isFull ? FULL_REQUESTS : CUSTOM_REQUESTS)[Math.floor(i / 2) % (isFull ? FULL_REQUESTS : CUSTOM_REQUESTS).length]!;
        traffic.tokens.push(key.secret);
        traffic.scopes.push([...scopes]);
        traffic.expected.push(expected);
      }
      progress(`traffic: verifying each of the ${n.toLocaleString("en")} keys once (their first argon2 check), then rotating`);
      const first = await loadgen(server.grpcPort, service, traffic.tokens, true, { requiredScopes: traffic.scopes, expected: traffic.expected });
      if (first.unexpected > 0) failures.push(`traffic: first verification of ${n} keys: ${first.unexpected} answers other than expected (${describeOutcomes(first.outcomes)})`);
    };
    const rotation = (id: string, name: string, n: number, protocol: LoadgenProtocol = "grpc") =>
      loadgenRunner(server, db, id, name, service, protocol, { tokens: traffic.tokens.slice(0, n), scopes: traffic.scopes.slice(0, n), expected: traffic.expected.slice(0, n) });
    const oneKey = (id: string) =>
      loadgenRunner(server, db, id, "one key repeated (gRPC, loadgen)", service, "grpc", { tokens: [custom.secret], scopes: [[SCOPE]], expected: ["VALID"] });
    // The base of every ratio: the health check from the same load generator, so that what the
    // client costs (grpc-js spends more per call than the server does) weighs on both sides alike.
    const health = (id: string) => loadgenRunner(server, db, id, "gRPC health check (loadgen)", service, "grpc-health", { tokens: [""], scopes: [[]], expected: ["SERVING"] });
    /** Alternates the runners, counting the argon2 checks the server ran in the measured rounds. */
    const counted = async (group: string, runners: Runner[]) => {
      let before = 0;
      let t0 = 0;
      const rowsBefore = rows.length;
      await alternate(runners, async () => {
        before = await argon2Checks(server);
        t0 = performance.now();
      });
      const checks = (await argon2Checks(server)) - before;
      const calls = rows.slice(rowsBefore).reduce((sum, r) => sum + r.requests, 0);
      steadyArgon2.push({ group, checks, seconds: (performance.now() - t0) / 1000, calls });
    };

    if (only.has("traffic")) {
      await grow(ROTATION_KEYS);
      const n = ROTATION_KEYS.toLocaleString("en");
      await counted(`10-13 (${n} keys)`, [
        await health("10h"),
        oneKey("10"),
        rotation("11", `${n} keys in rotation (gRPC, loadgen)`, ROTATION_KEYS),
        rotation("12", `${n} keys, Connect JSON, HTTP/1.1`, ROTATION_KEYS, "connect-http1"),
        rotation("13", `${n} keys, Connect JSON, h2c`, ROTATION_KEYS, "connect-h2c"),
      ]);
      restart = await restartScenario(server, service, traffic);
    } else if (only.has("restart")) {
      await grow(ROTATION_KEYS);
      restart = await restartScenario(server, service, traffic);
    }
    if (only.has("large")) {
      await grow(LARGE_ROTATION_KEYS);
      const n = LARGE_ROTATION_KEYS.toLocaleString("en");
      await counted(`14 (${n} keys)`, [await health("14h"), oneKey("14o"), rotation("14", `${n} keys in rotation (gRPC, loadgen)`, LARGE_ROTATION_KEYS)]);
    }
  });
}

/** A loadgen rotation as a runner: its answers must be the expected ones, refusals are reported. */
function loadgenRunner(server: BenchServer, db: pg.Client, id: string, name: string, service: string, protocol: LoadgenProtocol, traffic: Traffic): Runner {
  const port = protocol.startsWith("grpc") ? server.grpcPort : server.httpPort;
  const run = (seconds: number) =>
    loadgen(server.grpcPort, service, traffic.tokens, false, {
      address: `127.0.0.1:${port}`, protocol, requiredScopes: traffic.scopes, expected: traffic.expected, seconds,
    });
  return {
    id, name,
    warm: () => run(ALTERNATING_WARMUP_SECONDS),
    run: async () => {
      const r = await measure(server, db, async () => {
        const result = await run(SECONDS);
        return { ...result, requests: Object.values(result.outcomes).reduce((a, b) => a + b, 0) };
      });
      const refused = r.outcomes.RESOURCE_EXHAUSTED ?? 0;
      if (refused > 0) findings.push(`${id} ${name}: ${refused} RESOURCE_EXHAUSTED of ${r.requests}`);
      if (r.unexpected > refused) failures.push(`${id} ${name}: ${r.unexpected - refused} wrong answers (${describeOutcomes(r.outcomes)})`);
      return {
        id, name, reqPerSec: r.requests / (r.elapsedMs / 1000), p50Ms: r.p50Ms, p99Ms: r.p99Ms, requests: r.requests,
        serverCores: r.serverCores, postgresCores: r.postgresCores, cpuUsPerReq: r.cpuUsPerReq, dbTxPerReq: r.dbTxPerReq, generatorCores: r.cpuMs / r.elapsedMs,
        note: describeOutcomes(r.outcomes),
      };
    },
  };
}

interface RestartFigures {
  readonly keys: number;
  readonly startSeconds: number;
  readonly beforePerSec: number;
  readonly afterPerSec: number;
  /** Seconds from the switch to the end of the first second at ≥ 90 % of the rate before it. */
  readonly backAfterSeconds: number | undefined;
  readonly refused: number;
  readonly outcomesAfter: string;
  readonly argon2Checks: number;
  readonly cpuUsPerReqAfter: number;
  /** Calls answered per second from the switch on: where the time goes. */
  readonly bySecondAfter: number[];
}

/**
 * Scenario 15: the keys rotate on the warm server, then every call goes to a replica started
 * fresh on the same database (as a rolling deploy or a restart behind a load balancer does): how
 * long until it serves at the warm rate, and how many valid keys it refused or misanswered.
 */
async function restartScenario(warm: BenchServer, service: string, traffic: Traffic): Promise<RestartFigures> {
  progress(`15 restart: starting a fresh replica on the same database`);
  const t0 = performance.now();
  const fresh = await startServer(warm.dataDir, COUNTED);
  const startSeconds = (performance.now() - t0) / 1000;
  liveServers.add(fresh);
  try {
    await sleep(2_000); // its start-up work done
    const checks0 = await argon2Checks(fresh);
    const cpu0 = cpuSeconds(fresh.pid);
    progress(`15 restart: ${traffic.tokens.length.toLocaleString("en")} keys in rotation, ${RESTART_BEFORE_SECONDS} s on the warm server, then ${RESTART_AFTER_SECONDS} s on the fresh replica`);
    const r = await loadgen(warm.grpcPort, service, traffic.tokens, false, {
      requiredScopes: traffic.scopes, expected: traffic.expected, seconds: RESTART_BEFORE_SECONDS + RESTART_AFTER_SECONDS,
      switchAfterSeconds: RESTART_BEFORE_SECONDS, switchTo: `127.0.0.1:${fresh.grpcPort}`, timeline: true,
    });
    const cpu = cpuSeconds(fresh.pid) - cpu0;
    const checks = (await argon2Checks(fresh)) - checks0;
    const perSec = 1000 / r.timelineMs;
    const buckets = r.timeline!;
    const switchBucket = Math.ceil(r.switchedAtMs! / r.timelineMs);
    const rate = (from: number, to: number) => buckets.slice(from, to).reduce((sum, [ok, other]) => sum + ok + other, 0) / ((to - from) / perSec);
    // The warm rate: the last 5 s before the switch.
    const beforePerSec = rate(switchBucket - 5 * perSec, switchBucket - 1);
    let back: number | undefined;
    for (let b = switchBucket; b + perSec <= buckets.length - 1; b++) {
      if (rate(b, b + perSec) >= 0.9 * beforePerSec) {
        back = (b + perSec) * r.timelineMs - r.switchedAtMs!;
        break;
      }
    }
    const after = buckets.slice(switchBucket);
    const refused = after.reduce((sum, [, other]) => sum + other, 0) + buckets[switchBucket - 1]![1];
    const callsAfter = after.reduce((sum, [ok, other]) => sum + ok + other, 0);
    return {
      keys: traffic.tokens.length, startSeconds, beforePerSec, afterPerSec: rate(buckets.length - 1 - 5 * perSec, buckets.length - 1),
      backAfterSeconds: back === undefined ? undefined : back / 1000, refused,
      outcomesAfter: `${describeOutcomes(r.outcomes)} in all; ${r.unexpected} unexpected`, argon2Checks: checks, cpuUsPerReqAfter: (cpu * 1e6) / callsAfter,
      bySecondAfter: Array.from({ length: Math.floor((buckets.length - 1 - switchBucket) / perSec) }, (_, k) => rate(switchBucket + k * perSec, switchBucket + (k + 1) * perSec)),
    };
  } finally {
    await stopServer(fresh, "fresh replica");
  }
}

/** The argon2 checks `server` ran so far: bench/argon2-counter.cjs writes the count on SIGUSR2. */
async function argon2Checks(server: BenchServer): Promise<number> {
  const lines = () => [...server.output().matchAll(/^bench-argon2-checks (\d+)$/gm)];
  const seen = lines().length;
  process.kill(server.pid, "SIGUSR2");
  for (let waited = 0; waited < 10_000; waited += 20) {
    const found = lines();
    if (found.length > seen) return Number(found.at(-1)![1]);
    await sleep(20);
  }
  throw new Error(`server ${server.pid} did not report its argon2 checks (is bench/argon2-counter.cjs preloaded?)`);
}

// --- scenario 9: memory per cached key, on a second server ---
// Each key's one verification leaves its cache entry and the answer kept for that call: both count.

interface MemoryFigures {
  readonly keys: number;
  readonly heapBytesPerKey: number | undefined;
  readonly rssBytesPerKey: number;
  readonly heapBefore: number | undefined;
  readonly heapAfter: number | undefined;
  readonly rssBefore: number;
  readonly rssAfter: number;
  readonly secondPass: Cost & { readonly requests: number; readonly reqPerSec: number };
}

function memoryScenario(): Promise<MemoryFigures> {
  return scoped(async (defer) => {
    const env = { ...MEMORY_SERVER_ENV, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --inspect=127.0.0.1:0`.trim() };
    progress(`9 memory: starting a second server with ${envText(MEMORY_SERVER_ENV)} and an inspector`);
    const server = await startServer(file("memory"), env);
    liveServers.add(server);
    defer(() => stopServer(server, "memory"));
    const owner = await cli(server.dataDir, ["bootstrap", "--workspace", "Bench", "--owner", "bench-owner"]);
    const service = await cli(server.dataDir, ["services", "add", "--name", "bench-gateway"]);
    const db = new pg.Client({ connectionString: await databaseUrl(server.dataDir) });
    db.on("error", () => {});
    await db.connect();
    defer(() => db.end());

    // One key through the API, the rest inserted with hashes made here with the same parameters
    // (20,000 CreateApiKey calls would take minutes).
    const [template] = await createKeys(server.grpcPort, owner, 1, "template");
    const prefix = template!.secret.slice(0, template!.secret.indexOf("_"));
    const params = await argon2Settings(db, template!.id);
    progress(`9 memory: hashing ${(MEMORY_WARM_KEYS + MEMORY_KEYS).toLocaleString("en")} new keys here (argon2id ${params}, as the server hashes) and inserting them`);
    const [warm = [], keys = []] = await insertKeys(db, template!.id, prefix, params, [MEMORY_WARM_KEYS, MEMORY_KEYS]);
    idleTx.memory = await measureBackgroundTx(db);
    const api = grpcClient(server.grpcPort);
    const first = await api.verifyApiKey({ key: warm[0]!.secret, requiredScopes: [SCOPE] }, { headers: { authorization: `Bearer ${service}` } });
    check(first.status === VerificationStatus.VALID, `the memory server answered ${VerificationStatus[first.status]} for a valid key`);

    const inspectorPort = server.otherPorts[0];
    const inspector = inspectorPort === undefined ? undefined : await connectInspector(inspectorPort).catch(() => undefined);
    if (!inspector) findings.push("9 memory: no inspector on the server process; heap figures are missing");
    defer(() => inspector?.close());
    const sample = async () => {
      const heap = inspector ? Math.min(await inspector.heapUsedAfterGc(), await inspector.heapUsedAfterGc()) : undefined;
      const rss: number[] = [];
      for (let i = 0; i < 5; i++) {
        rss.push(rssBytes(server.pid));
        await sleep(200);
      }
      return { heap, rss: quantile(rss, 0.5) };
    };

    progress(`9 memory: warming up with ${MEMORY_WARM_KEYS.toLocaleString("en")} other keys, then sampling`);
    await loadgen(server.grpcPort, service, warm.map((k) => k.secret), true);
    await sleep(500);
    const before = await sample();
    progress(`9 memory: verifying ${MEMORY_KEYS.toLocaleString("en")} distinct keys once each, then sampling`);
    const fill = await loadgen(server.grpcPort, service, keys.map((k) => k.secret), true);
    const valid = fill.outcomes.VALID ?? 0;
    if (valid !== keys.length) failures.push(`9 memory: ${describeOutcomes(fill.outcomes)} of ${keys.length} keys (expected all VALID)`);
    await sleep(500);
    const after = await sample();
    progress(`9 memory: verifying ${MEMORY_SECOND_PASS.toLocaleString("en")} of them again (are they served from memory?)`);
    const again = keys.slice(0, MEMORY_SECOND_PASS).map((k) => k.secret);
    const secondPass = await measure(server, db, async () => {
      const r = await loadgen(server.grpcPort, service, again, false);
      return { ...r, requests: again.length, reqPerSec: again.length / (r.elapsedMs / 1000) };
    });
    return {
      keys: valid,
      heapBytesPerKey: before.heap === undefined || after.heap === undefined ? undefined : (after.heap - before.heap) / valid,
      rssBytesPerKey: (after.rss - before.rss) / valid,
      heapBefore: before.heap, heapAfter: after.heap, rssBefore: before.rss, rssAfter: after.rss,
      secondPass,
    };
  });
}

// --- helpers ---

/** Runs `body`, then what it deferred, last first (stopping a server also reports its errors). */
async function scoped<T>(body: (defer: (cleanup: () => unknown) => void) => Promise<T>): Promise<T> {
  const deferred: Array<() => unknown> = [];
  try {
    return await body((cleanup) => deferred.push(cleanup));
  } finally {
    for (const cleanup of deferred.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        findings.push(`cleanup: ${(err as Error).message}`);
      }
    }
  }
}

/** Creates `n` CUSTOM keys with SCOPE through CreateApiKey, 8 calls at a time. */
async function createKeys(grpcPort: number, owner: string, n: number, label: string): Promise<Array<{ id: string; secret: string }>> {
  const api = grpcClient(grpcPort);
  const options = { headers: { authorization: `Bearer ${owner}` } };
  const keys: Array<{ id: string; secret: string }> = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n) {
        const i = next++;
        const created = await api.createApiKey({ name: `bench ${label} ${i}`, access: AccessLevel.CUSTOM, scopes: [SCOPE] }, options);
        keys[i] = { id: created.apiKey!.id, secret: created.secret };
      }
    }),
  );
  return keys;
}

/**
 * Adds filler rows (their own 12-character ids, the measured key's workspace and creator, a dummy
 * hash that never verifies) until api_keys holds `total` rows.
 */
async function fillTable(db: pg.Client, likeId: string, prefix: string, total: number): Promise<{ added: number }> {
  const { rows: [row] } = await db.query<{ n: string }>("SELECT count(*) AS n FROM api_keys");
  const missing = total - Number(row!.n);
  if (missing <= 0) return { added: 0 };
  const { rows: [max] } = await db.query<{ n: string | null }>("SELECT max(substr(id, 2)::bigint) AS n FROM api_keys WHERE id ~ '^F[0-9]{11}$'");
  const from = Number(max!.n ?? 0) + 1;
  const result = await db.query(
    `INSERT INTO api_keys (id, workspace_id, name, access, scopes, hash, hint, created_by)
     SELECT 'F' || lpad(g::text, 11, '0'), k.workspace_id, 'bench filler', 'full', '{}', 'not-an-argon2-hash',
            $2 || '_F' || lpad(g::text, 11, '0') || '…0000', k.created_by
       FROM generate_series($3::bigint, $4::bigint) AS g, api_keys AS k
      WHERE k.id = $1`,
    [likeId, prefix, from, from + missing - 1],
  );
  check(result.rowCount === missing, `inserted ${result.rowCount} filler rows, expected ${missing}`);
  return { added: missing };
}

/** Runs bench/loadgen.ts in its own process over `tokens`: each verified once, unless `more` says otherwise. */
async function loadgen(grpcPort: number, service: string, tokens: string[], retryExhausted: boolean, more: Partial<LoadgenConfig> = {}): Promise<LoadgenResult> {
  const config: LoadgenConfig = {
    address: `127.0.0.1:${grpcPort}`, serviceToken: service, tokens, requiredScopes: [SCOPE],
    connections: CLIENTS, streams: STREAMS, retryExhausted, ...more,
  };
  const configFile = file(`loadgen-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(configFile, JSON.stringify(config));
  const { stdout } = await promisify(execFile)(path.join(ROOT, "node_modules", ".bin", "tsx"), [path.join(ROOT, "bench", "loadgen.ts"), configFile], {
    cwd: ROOT, maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout) as LoadgenResult;
}

/**
 * Inserts keys shaped like the key `likeId` (workspace, creator, access, scopes), with secrets
 * minted and hashed here with the argon2id parameters `params` ("m=…,t=…,p=…"); one batch per count.
 */
async function insertKeys(db: pg.Client, likeId: string, prefix: string, params: string, counts: number[]): Promise<Array<Array<{ id: string; secret: string }>>> {
  // argon2 releases differ in the order they write the parameters (0.45: m, p, t; 0.44: m, t, p): read them by name.
  const m = Object.fromEntries(params.split(",").map((kv) => kv.split("=") as [string, string]));
  check(/^\d+$/.test(m.m ?? "") && /^\d+$/.test(m.t ?? "") && /^\d+$/.test(m.p ?? ""), `cannot read argon2 parameters from "${params}"`);
  const options = { type: argon2.argon2id, memoryCost: Number(m.m), timeCost: Number(m.t), parallelism: Number(m.p) };
  const batches: Array<Array<{ id: string; secret: string }>> = [];
  for (const count of counts) {
    const batch: Array<{ id: string; secret: string }> = [];
    for (let from = 0; from < count; from += 1_000) {
      const secrets = Array.from({ length: Math.min(1_000, count - from) }, () => mintToken(prefix));
      const hashes = await Promise.all(secrets.map((secret) => argon2.hash(secret, options)));
      const ids = secrets.map((secret) => (inspectToken(secret, prefix) as { id: string }).id);
      await db.query(
        `INSERT INTO api_keys (id, workspace_id, name, access, scopes, hash, hint, created_by)
         SELECT u.id, k.workspace_id, 'bench memory', k.access, k.scopes, u.hash, u.hint, k.created_by
           FROM unnest($2::text[], $3::text[], $4::text[]) AS u(id, hash, hint), api_keys AS k
          WHERE k.id = $1`,
        [likeId, ids, hashes, secrets.map((secret) => tokenHint(secret, prefix))],
      );
      batch.push(...secrets.map((secret, i) => ({ id: ids[i]!, secret })));
    }
    batches.push(batch);
  }
  return batches;
}

const envText = (env: Record<string, string>) => Object.entries(env).map(([k, v]) => `${k}=${v}`).join(" ");

const describeOutcomes = (o: Record<string, number>) => Object.entries(o).map(([k, v]) => `${v} ${k}`).join(", ");

/** The argon2 cost the server hashes with, read from a hash it made (the measured key's). */
async function argon2Settings(db: pg.Client, id: string): Promise<string> {
  const { rows: [row] } = await db.query<{ hash: string }>("SELECT hash FROM api_keys WHERE id = $1", [id]);
  return /\$argon2id\$v=\d+\$([^$]+)\$/.exec(row?.hash ?? "")?.[1] ?? "see the first key's hash";
}

async function stopServer(server: BenchServer, name: string): Promise<void> {
  const code = await server.stop();
  liveServers.delete(server);
  const errors = server.output().split("\n").filter((l) => /"level":"(error|warn)"/.test(l) || /Error|uncaught|unhandled/i.test(l));
  const noise = (l: string) => l.startsWith("Debugger listening") || l.startsWith("For help, see") || l.startsWith("Debugger attached") || l.startsWith("Waiting for the debugger");
  const relevant = errors.filter((l) => !noise(l));
  if (code !== 0) findings.push(`the ${name} server exited with ${code} after SIGTERM`);
  if (relevant.length > 0) findings.push(`the ${name} server logged ${relevant.length} warning or error lines, first: ${relevant.slice(0, 3).join(" | ")}`);
}

// --- the report ---

function report(): void {
  const f = (x: number | undefined, digits = 1) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(digits));
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a / b);
  const row = (id: string) => rows.find((r) => r.id === id);
  const out: string[] = [];
  out.push("");
  out.push(`apikeys verification benchmark — ${date.toISOString()}`);
  out.push(`machine: ${machine.cores} cores, ${machine.model}, Node ${machine.node}, ${process.platform}/${process.arch}; load average ${machine.loadBefore.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end (other processes share these cores)`);
  out.push(`server: bin/apikeys serve, embedded Postgres, APIKEYS_LOG_LEVEL=warn, argon2id ${argon2Server ?? "?"} (the default cost)`);
  out.push(`load: ${h2loadVersion}, -t 1 -c ${CLIENTS} -m ${STREAMS} (${CLIENTS * STREAMS} calls in flight), h2c, ${WARMUP_SECONDS} s warm-up then -D ${SECONDS}; p50/p99 from its --log-file;`);
  out.push(`      1 and 2: ${ALTERNATING_WARMUP_SECONDS} s warm-up each, then ${ROUNDS} rounds of 1 then 2; 7: ${ROUNDS} rounds of 7b (alone) then 7 (flooded); each -D ${SECONDS}`);
  if (exampleCommand) out.push(`      e.g. (2): ${exampleCommand}`);
  out.push(`      server CPU from /proc/<pid>/stat, pg cores from its embedded Postgres's processes (6b waits until they are idle); db tx from pg_stat_database, less the idle server's own rate (${f(idleTx.main, 1)}/s; ${f(idleTx.memory, 1)}/s in 9; background work grows under load, so values below ~0.1 are noise)`);
  out.push(`      10-14: bench/loadgen.ts (another process; gRPC with grpc-js, Connect JSON with node:http / node:http2; ${CLIENTS} × ${STREAMS} calls in flight, HTTP/1.1 as ${CLIENTS * STREAMS} sockets),`);
  out.push(`      keys in rotation for the whole run, half FULL, half CUSTOM (${CUSTOM_SCOPES.join(", ")}), required scopes varied, 1 in 4 CUSTOM calls INSUFFICIENT_SCOPE by design;`);
  out.push(`      each group alternates with the health check (grpc-js from loadgen, not h2load) in ${ROUNDS} rounds of ${SECONDS} s after ${ALTERNATING_WARMUP_SECONDS} s warm-ups; gen cores = the loadgen process's CPU`);
  out.push(`      3 and 9 from bench/loadgen.ts (grpc-js, ${CLIENTS} connections × ${STREAMS} calls in flight, each key once); every answer checked with a real client first`);
  out.push("");
  out.push(`${"scenario".padEnd(52)} ${"req/s".padStart(9)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"requests".padStart(9)} ${"srv cores".padStart(9)} ${"pg cores".padStart(8)} ${"CPU µs/req".padStart(10)} ${"db tx/req".padStart(9)} ${"gen cores".padStart(9)}  notes`);
  const order = ["1", "2", "3", "4", "5", "6ah", "6a", "6bh", "6b", "7b", "7", "7f", "8", "10h", "10", "11", "12", "13", "14h", "14o", "14"];
  for (const r of [...rows].sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id))) {
    out.push(
      `${`${r.id.padEnd(3)} ${r.name}`.padEnd(52)} ${f(r.reqPerSec).padStart(9)} ${f(r.p50Ms, 2).padStart(8)} ${f(r.p99Ms, 2).padStart(8)} ${String(r.requests).padStart(9)} ` +
        `${f(r.serverCores, 2).padStart(9)} ${f(r.postgresCores, 2).padStart(8)} ${f(r.cpuUsPerReq, 0).padStart(10)} ${f(r.dbTxPerReq, 3).padStart(9)} ${f(r.generatorCores, 2).padStart(9)}  ${r.note}`,
    );
  }
  if (memory) {
    const mib = (b: number | undefined) => (b === undefined ? "-" : `${(b / 1024 / 1024).toFixed(1)} MiB`);
    out.push(
      `9   memory per cached key (second server, ${envText(MEMORY_SERVER_ENV)}, --inspect): ` +
        `${memory.keys.toLocaleString("en")} keys verified once each;`,
    );
    out.push(`      V8 heap after a forced GC ${mib(memory.heapBefore)} → ${mib(memory.heapAfter)}: ${f(memory.heapBytesPerKey, 0)} B/key; ` + `VmRSS (median of 5) ${mib(memory.rssBefore)} → ${mib(memory.rssAfter)}: ${f(memory.rssBytesPerKey, 0)} B/key`);
    out.push(
      `      verifying ${memory.secondPass.requests.toLocaleString("en")} of them again: ${f(memory.secondPass.reqPerSec)} req/s, ` +
        `${f(memory.secondPass.cpuUsPerReq, 0)} µs CPU/req, ${f(memory.secondPass.dbTxPerReq, 3)} db tx/req` +
        (memory.secondPass.dbTxPerReq >= 0.5 ? " — they were NOT served from memory, so bytes per key measure no cache" : ""),
    );
  }

  out.push("");
  out.push("targets (reported, not asserted):");
  const target = (name: string, value: number | undefined, op: "≥" | "≤" | "<", goal: number, digits = 2, unit = "") => {
    const met = value === undefined || Number.isNaN(value) ? "not measured" : (op === "≥" ? value >= goal : op === "≤" ? value <= goal : value < goal) ? "met" : "MISSED";
    out.push(`  ${name.padEnd(58)} ${`${f(value, digits)}${unit}`.padStart(9)}   target ${op} ${goal}${unit}   ${met}`);
  };
  if (only.has("main")) {
    const paired = roundRatios.get("2/1") ?? [];
    target(`cached / health throughput (2 / 1), median of ${paired.length} rounds`, paired.length > 0 ? median(paired) : undefined, "≥", 0.85);
    out.push(`      per round: ${paired.map((x) => x.toFixed(2)).join(", ")}; over all rounds: ${f(ratio(row("2")?.reqPerSec, row("1")?.reqPerSec), 2)}`);
    // Each table size as its share of the health check's throughput in the same rounds (see scenario 6).
    const small = roundRatios.get("6a/6ah") ?? [];
    const large = roundRatios.get("6b/6bh") ?? [];
    const tables = small.length > 0 && large.length > 0 ? median(large) / median(small) : undefined;
    target("1,000,000 keys / 1,000 keys, each over health (6b/6bh ÷ 6a/6ah)", tables, "≥", 0.9);
    out.push(`      per round, 6a/6ah: ${small.map((x) => x.toFixed(2)).join(", ")}; 6b/6bh: ${large.map((x) => x.toFixed(2)).join(", ")}; raw 6b / 6a: ${f(ratio(row("6b")?.reqPerSec, row("6a")?.reqPerSec), 2)}`);
    const floodRatios = roundRatios.get("7/7b") ?? [];
    const floodP99 = roundRatios.get("7/7b p99") ?? [];
    target(`flooded / unflooded cached throughput (7 / 7b), median of ${floodRatios.length} rounds`, floodRatios.length > 0 ? median(floodRatios) : undefined, "≥", 0.8);
    out.push(`      per round: ${floodRatios.map((x) => x.toFixed(2)).join(", ")}`);
    target(`flooded / unflooded cached p99 (7 / 7b), median of ${floodP99.length} rounds`, floodP99.length > 0 ? median(floodP99) : undefined, "≤", 2);
    out.push(`      per round: ${floodP99.map((x) => x.toFixed(2)).join(", ")}`);
    target("database transactions per cached verification (2)", row("2")?.dbTxPerReq, "<", 0.01, 3);
    const argon2Us = row("3")?.cpuUsPerReq;
    out.push(`  malformed token and unknown id cost no argon2 work: server CPU per call 4: ${f(row("4")?.cpuUsPerReq, 0)} µs, 5: ${f(row("5")?.cpuUsPerReq, 0)} µs, ` + `against ${f(argon2Us, 0)} µs for a first verification (3) and ${f(row("1")?.cpuUsPerReq, 0)} µs for the health check (1)`);
    out.push("other ratios:");
    for (const [name, id] of [["malformed / health", "4"], ["unknown id / health", "5"], ["Connect JSON on HTTP / cached on gRPC", "8"], ["first (cold) / cached", "3"]] as const) {
      const base = id === "8" || id === "3" ? row("2") : row("1");
      out.push(`  ${`${name} throughput`.padEnd(58)} ${f(ratio(row(id)?.reqPerSec, base?.reqPerSec), 2).padStart(9)}`);
    }
  }
  if (only.has("memory")) target("memory per cached key, V8 heap (9)", memory?.heapBytesPerKey, "<", 1024, 0, " B");
  if (only.has("traffic") || only.has("large") || only.has("restart")) {
    out.push("traffic (10-15), each scenario over the health check of the same rounds (median of the rounds):");
    for (const id of ["10", "11", "12", "13", "14o", "14"]) {
      const base = id.startsWith("14") ? "14h" : "10h";
      const per = roundRatios.get(`${id}/${base}`);
      if (!per || !row(id)) continue;
      out.push(`  ${`${id} ${row(id)!.name} / health`.padEnd(58)} ${f(median(per), 2).padStart(9)}   server CPU ${f(row(id)!.cpuUsPerReq, 0)} µs/call (health ${f(row(base)?.cpuUsPerReq, 0)})`);
    }
    const over = (a: string, b: string, base: string) => {
      const x = roundRatios.get(`${a}/${base}`);
      const y = roundRatios.get(`${b}/${base}`);
      return x && y ? median(x.map((v, i) => v / y[i]!)) : undefined;
    };
    target(`${ROTATION_KEYS.toLocaleString("en")}-key rotation / one key repeated (11 / 10)`, over("11", "10", "10h"), "≥", 0.8);
    target(`${LARGE_ROTATION_KEYS.toLocaleString("en")}-key rotation / one key repeated (14 / 14o)`, over("14", "14o", "14h"), "≥", 0.8);
    target("Connect JSON HTTP/1.1 / gRPC, same keys and concurrency (12 / 11)", over("12", "11", "10h"), "≥", 0.5);
    out.push(`  ${"Connect JSON h2c / gRPC (13 / 11)".padEnd(58)} ${f(over("13", "11", "10h"), 2).padStart(9)}   CPU per call: gRPC ${f(row("11")?.cpuUsPerReq, 0)} µs, HTTP/1.1 ${f(row("12")?.cpuUsPerReq, 0)} µs, h2c ${f(row("13")?.cpuUsPerReq, 0)} µs`);
    for (const s of steadyArgon2) {
      target(`steady-state argon2 checks/s, ${s.group}, no key changed`, s.checks / s.seconds, "≤", 0, 2);
      out.push(`      ${s.checks} checks in ${f(s.seconds, 0)} s over ${s.calls.toLocaleString("en")} calls (counted in the server by bench/argon2-counter.cjs)`);
    }
    if (restart) {
      target(`15 restart: seconds back to the warm rate (${restart.keys.toLocaleString("en")} keys)`, restart.backAfterSeconds ?? Number.NaN, "≤", 10, 1, " s");
      target("15 restart: refused or wrong answers meanwhile", restart.refused, "≤", 0, 0);
      out.push(
        `      warm server ${f(restart.beforePerSec, 0)} calls/s; fresh replica (started in ${f(restart.startSeconds, 1)} s, not counted) ${f(restart.afterPerSec, 0)} calls/s over its last 5 s; ` +
          `its argon2 checks: ${restart.argon2Checks}, server CPU ${f(restart.cpuUsPerReqAfter, 0)} µs/call; ${restart.outcomesAfter}`,
      );
      out.push(`      calls/s in each second after the switch: ${restart.bySecondAfter.map((x) => x.toFixed(0)).join(", ")}`);
    }
  }
  if (findings.length > 0) {
    out.push("");
    out.push("findings (reported, not failures):");
    for (const p of findings) out.push(`  - ${p}`);
  }
  if (failures.length > 0) {
    out.push("");
    out.push("FAILED:");
    for (const p of failures) out.push(`  - ${p}`);
  }
  console.log(out.join("\n"));
}

// --- the run ---

const date = new Date();
const machine = {
  cores: availableParallelism(),
  model: /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown",
  node: process.version,
  loadBefore: loadavg()[0]!,
};
const h2loadVersion = ensureH2load();
const root = mkdtempSync(path.join(tmpdir(), "apikeys-bench-verify-"));
chmodSync(root, 0o755); // a root-run embedded Postgres runs as `postgres`, which must enter it
cleanups.push(() => rmSync(root, { recursive: true, force: true }));
const file = (name: string) => path.join(root, name);
// Interrupted: stop the servers (each stops its embedded Postgres), remove the temporary folder.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    progress(`${signal}: stopping the servers and removing ${root}`);
    void Promise.all([...liveServers].map((s) => s.stop())).finally(() => {
      rmSync(root, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

let exitCode = 0;
let memory: MemoryFigures | undefined;
let restart: RestartFigures | undefined;
let argon2Server: string | undefined;
const idleTx: { main?: number; memory?: number; traffic?: number } = {};
let exampleCommand: string | undefined;
try {
  if (only.has("main")) await mainServerScenarios();
  if (only.has("memory")) memory = await memoryScenario();
  if (only.has("traffic") || only.has("large") || only.has("restart")) await trafficScenarios();
} catch (err) {
  exitCode = 1;
  if (err instanceof CheckFailed) failures.push(`correctness check failed: ${err.message}`);
  else failures.push(`the benchmark failed: ${(err as Error).stack ?? String(err)}`);
} finally {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (err) {
      findings.push(`cleanup: ${(err as Error).message}`);
    }
  }
}
report();
process.exit(exitCode || (failures.length > 0 ? 1 : 0));
