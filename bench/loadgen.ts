// A small load generator for what h2load cannot do: a different request body per call. It runs in
// its own process (as h2load does) over `connections` connections with `streams` calls in flight on
// each (HTTP/1.1: that many sockets, one call each), then prints one JSON line: elapsed time,
// answers by status, latency percentiles and, when asked, answers per quarter second. Either each
// token once (no `seconds`), or the tokens in rotation for `seconds` (a service's steady traffic).
// Protocols: gRPC with grpc-js, and Connect JSON with node:http (HTTP/1.1) or node:http2 (h2c),
// as a service without a gRPC library would call the HTTP port.
//
//   tsx bench/loadgen.ts <config.json>     (written by bench/verification.ts)
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { connect as http2Connect, type ClientHttp2Session } from "node:http2";
import {
  VerificationStatus,
  VerifyApiKeyRequestSchema,
  VerifyApiKeyResponseSchema,
} from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { quantile } from "./h2load.js";

/** grpc-health calls grpc.health.v1.Health/Check instead (the tokens only count the calls): the ceiling for this client. */
export type LoadgenProtocol = "grpc" | "grpc-health" | "connect-http1" | "connect-h2c";

export interface LoadgenConfig {
  /** host:port of the gRPC port (grpc) or the HTTP port (connect-*). */
  readonly address: string;
  readonly protocol?: LoadgenProtocol;
  readonly serviceToken: string;
  readonly tokens: readonly string[];
  /** Required scopes for every call, or per token (same length as `tokens`). */
  readonly requiredScopes: readonly string[] | ReadonlyArray<readonly string[]>;
  /** The status each token's call must get (same length as `tokens`); other answers count as unexpected. */
  readonly expected?: readonly string[];
  readonly connections: number;
  readonly streams: number;
  /** Retry a call answered RESOURCE_EXHAUSTED (after a short pause) instead of counting it. */
  readonly retryExhausted: boolean;
  /** Rotate through the tokens for this long, instead of each once. */
  readonly seconds?: number;
  /** gRPC only: after this many seconds, send every call to `switchTo` (another replica). */
  readonly switchAfterSeconds?: number;
  readonly switchTo?: string;
  /** Count answers per 250 ms (as expected / not). */
  readonly timeline?: boolean;
}

export interface LoadgenResult {
  readonly elapsedMs: number;
  /** Answers by verification status name, or by gRPC code name for errors. */
  readonly outcomes: Record<string, number>;
  /** Answers other than `expected` said (0 without `expected`). */
  readonly unexpected: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Latency percentiles per outcome. */
  readonly byOutcome: Record<string, { readonly p50Ms: number; readonly p99Ms: number }>;
  readonly retries: number;
  /** Per `timelineMs` from the start: answers as expected, and others. */
  readonly timeline?: ReadonlyArray<readonly [number, number]>;
  readonly timelineMs: number;
  /** Milliseconds from the start when the calls went to `switchTo`. */
  readonly switchedAtMs?: number;
  /** CPU milliseconds this process used meanwhile (user + system). */
  readonly cpuMs: number;
}

const TIMELINE_MS = 250;
const PATH = "/apikeys.v1.ApiKeyService/VerifyApiKey";
const HEALTH = "/grpc.health.v1.Health/Check";

type Call = (lane: number, key: string, scopes: readonly string[]) => Promise<string>;

/** gRPC calls with grpc-js, one client (connection) per lane; `target()` picks the replica. */
function grpcCaller(config: LoadgenConfig, addresses: string[], health: boolean) {
  // A local subchannel pool per client: otherwise identical channels share one connection.
  const clients = addresses.map((address) =>
    Array.from({ length: config.connections }, () => new grpc.Client(address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 })),
  );
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${config.serviceToken}`);
  let target = 0;
  const checkHealth: Call = (lane) =>
    new Promise((resolve) =>
      clients[target]![lane]!.makeUnaryRequest(
        HEALTH,
        () => Buffer.alloc(0), // HealthCheckRequest{service: ""}
        (b: Buffer) => b,
        {},
        // HealthCheckResponse{status = SERVING}: field 1, varint 1.
        (error, response) => resolve(response ? (response[0] === 0x08 && response[1] === 1 ? "SERVING" : "NOT_SERVING") : grpc.status[(error as { code: number }).code] ?? "CLIENT_ERROR"),
      ),
    );
  const verify: Call = (lane, key, scopes) =>
    new Promise((resolve) =>
      clients[target]![lane]!.makeUnaryRequest(
        PATH,
        (m: unknown) => Buffer.from(toBinary(VerifyApiKeyRequestSchema, m as never)),
        (b: Buffer) => fromBinary(VerifyApiKeyResponseSchema, b),
        create(VerifyApiKeyRequestSchema, { key, requiredScopes: [...scopes] }),
        metadata,
        (error, response) => {
          if (response) return resolve(VerificationStatus[response.status] ?? "UNKNOWN_STATUS");
          const code = (error as { code?: number } | null)?.code;
          resolve(code === undefined ? "CLIENT_ERROR" : grpc.status[code] ?? `CODE_${code}`);
        },
      ),
    );
  return {
    call: health ? checkHealth : verify,
    ready: () => Promise.all(clients.flat().map((c) => new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve()))))),
    switchTarget: () => void (target = 1),
    close: () => clients.flat().forEach((c) => c.close()),
  };
}

/** The status name in a Connect JSON answer: the enum without its prefix, or the error code. */
function connectOutcome(status: number, body: string): string {
  try {
    const json = JSON.parse(body) as { status?: string; code?: string };
    if (status === 200) return (json.status ?? "VERIFICATION_STATUS_UNSPECIFIED").replace(/^VERIFICATION_STATUS_/, "");
    return (json.code ?? `HTTP_${status}`).toUpperCase();
  } catch {
    return `HTTP_${status}`;
  }
}

/** Connect JSON over HTTP/1.1 (keep-alive sockets, one call each) or h2c (one session per lane). */
function connectCaller(config: LoadgenConfig, http2: boolean) {
  const [host, port] = [config.address.slice(0, config.address.lastIndexOf(":")), Number(config.address.split(":").pop())];
  const headers = { "content-type": "application/json", authorization: `Bearer ${config.serviceToken}` };
  const body = (key: string, scopes: readonly string[]) => JSON.stringify({ key, requiredScopes: scopes });
  if (!http2) {
    const agent = new Agent({ keepAlive: true, maxSockets: config.connections * config.streams });
    const call: Call = (_lane, key, scopes) =>
      new Promise((resolve) => {
        const req = request({ host, port, method: "POST", path: PATH, agent, headers }, (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => void (text += d));
          res.on("end", () => resolve(connectOutcome(res.statusCode ?? 0, text)));
        });
        req.on("error", () => resolve("CLIENT_ERROR"));
        req.end(body(key, scopes));
      });
    return { call, ready: async () => {}, switchTarget: () => {}, close: () => agent.destroy() };
  }
  const sessions: ClientHttp2Session[] = Array.from({ length: config.connections }, () => http2Connect(`http://${config.address}`));
  for (const s of sessions) s.on("error", () => {});
  const call: Call = (lane, key, scopes) =>
    new Promise((resolve) => {
      const req = sessions[lane]!.request({ ":method": "POST", ":path": PATH, ...headers });
      let status = 0;
      let text = "";
      req.setEncoding("utf8");
      req.on("response", (h) => void (status = Number(h[":status"])));
      req.on("data", (d: string) => void (text += d));
      req.on("end", () => resolve(connectOutcome(status, text)));
      req.on("error", () => resolve("CLIENT_ERROR"));
      req.end(body(key, scopes));
    });
  return { call, ready: async () => {}, switchTarget: () => {}, close: () => sessions.forEach((s) => s.close()) };
}

async function main(config: LoadgenConfig): Promise<LoadgenResult> {
  const protocol = config.protocol ?? "grpc";
  const caller =
    protocol === "grpc" || protocol === "grpc-health"
      ? grpcCaller(config, config.switchTo ? [config.address, config.switchTo] : [config.address], protocol === "grpc-health")
      : connectCaller(config, protocol === "connect-h2c");
  await caller.ready();
  const scopesOf = (i: number): readonly string[] =>
    typeof config.requiredScopes[0] === "string" || config.requiredScopes.length === 0 ? (config.requiredScopes as readonly string[]) : (config.requiredScopes as ReadonlyArray<readonly string[]>)[i]!;

  const outcomes: Record<string, number> = {};
  const latencies: number[] = [];
  const latenciesBy: Record<string, number[]> = {};
  const timeline: Array<[number, number]> = [];
  let unexpected = 0;
  let next = 0;
  let retries = 0;
  let switchedAtMs: number | undefined;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const end = config.seconds === undefined ? Number.POSITIVE_INFINITY : started + config.seconds * 1000;
  if (config.switchAfterSeconds !== undefined) {
    setTimeout(() => {
      caller.switchTarget();
      switchedAtMs = performance.now() - started;
    }, config.switchAfterSeconds * 1000);
  }
  const more = () => (config.seconds === undefined ? next < config.tokens.length : performance.now() < end);
  const worker = async (lane: number) => {
    while (more()) {
      const i = next++ % config.tokens.length;
      for (;;) {
        const t0 = performance.now();
        const outcome = await caller.call(lane, config.tokens[i]!, scopesOf(i));
        if (outcome === "RESOURCE_EXHAUSTED" && config.retryExhausted) {
          retries++;
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        const t1 = performance.now();
        latencies.push(t1 - t0);
        (latenciesBy[outcome] ??= []).push(t1 - t0);
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        const ok = config.expected === undefined || config.expected[i] === outcome;
        if (!ok) unexpected++;
        if (config.timeline) {
          const bucket = Math.floor((t1 - started) / TIMELINE_MS);
          while (timeline.length <= bucket) timeline.push([0, 0]);
          timeline[bucket]![ok ? 0 : 1]++;
        }
        break;
      }
    }
  };
  await Promise.all(Array.from({ length: config.connections * config.streams }, (_, n) => worker(n % config.connections)));
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  caller.close();
  const byOutcome = Object.fromEntries(Object.entries(latenciesBy).map(([k, v]) => [k, { p50Ms: quantile(v, 0.5), p99Ms: quantile(v, 0.99) }]));
  return {
    elapsedMs, outcomes, unexpected, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), byOutcome, retries, cpuMs: (cpu.user + cpu.system) / 1000, timelineMs: TIMELINE_MS,
    ...(config.timeline ? { timeline } : {}), ...(switchedAtMs === undefined ? {} : { switchedAtMs }),
  };
}

const configFile = process.argv[2];
if (!configFile) throw new Error("usage: tsx bench/loadgen.ts <config.json>");
const result = await main(JSON.parse(readFileSync(configFile, "utf8")) as LoadgenConfig);
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(0); // open sockets (HTTP/1.1 keep-alive) must not keep the process alive
