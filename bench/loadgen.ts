// A small gRPC load generator for what h2load cannot do: a different request body per call. It
// runs in its own process (as h2load does) and verifies each token of a list once, over
// `connections` grpc-js connections with `streams` calls in flight on each, then prints one JSON
// line: elapsed time, answers by status, and latency percentiles.
//
//   tsx bench/loadgen.ts <config.json>     (written by bench/verification.ts)
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import {
  VerificationStatus,
  VerifyApiKeyRequestSchema,
  VerifyApiKeyResponseSchema,
  type VerifyApiKeyResponse,
} from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { quantile } from "./h2load.js";

export interface LoadgenConfig {
  readonly address: string;
  readonly serviceToken: string;
  readonly tokens: readonly string[];
  readonly requiredScopes: readonly string[];
  readonly connections: number;
  readonly streams: number;
  /** Retry a call answered RESOURCE_EXHAUSTED (after a short pause) instead of counting it. */
  readonly retryExhausted: boolean;
}

export interface LoadgenResult {
  readonly elapsedMs: number;
  /** Answers by verification status name, or by gRPC code name for errors. */
  readonly outcomes: Record<string, number>;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Latency percentiles per outcome. */
  readonly byOutcome: Record<string, { readonly p50Ms: number; readonly p99Ms: number }>;
  readonly retries: number;
}

const METHOD = "/apikeys.v1.ApiKeyService/VerifyApiKey";

async function main(config: LoadgenConfig): Promise<LoadgenResult> {
  // A local subchannel pool per client: otherwise identical channels share one connection.
  const clients = Array.from(
    { length: config.connections },
    () => new grpc.Client(config.address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }),
  );
  await Promise.all(clients.map((c) => new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())))));
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${config.serviceToken}`);
  const call = (client: grpc.Client, key: string) =>
    new Promise<VerifyApiKeyResponse>((resolve, reject) =>
      client.makeUnaryRequest(
        METHOD,
        (m: unknown) => Buffer.from(toBinary(VerifyApiKeyRequestSchema, m as never)),
        (b: Buffer) => fromBinary(VerifyApiKeyResponseSchema, b),
        create(VerifyApiKeyRequestSchema, { key, requiredScopes: [...config.requiredScopes] }),
        metadata,
        (error, response) => (error || !response ? reject(error ?? new Error("no answer")) : resolve(response)),
      ),
    );

  const outcomes: Record<string, number> = {};
  const latencies: number[] = [];
  const latenciesBy: Record<string, number[]> = {};
  let next = 0;
  let retries = 0;
  const started = performance.now();
  const worker = async (client: grpc.Client) => {
    while (next < config.tokens.length) {
      const key = config.tokens[next++]!;
      for (;;) {
        const t0 = performance.now();
        let outcome: string;
        try {
          outcome = VerificationStatus[(await call(client, key)).status] ?? "UNKNOWN_STATUS";
        } catch (err) {
          const code = (err as { code?: number }).code;
          outcome = code === undefined ? "CLIENT_ERROR" : grpc.status[code] ?? `CODE_${code}`;
          if (code === grpc.status.RESOURCE_EXHAUSTED && config.retryExhausted) {
            retries++;
            await new Promise((r) => setTimeout(r, 5));
            continue;
          }
        }
        const ms = performance.now() - t0;
        latencies.push(ms);
        (latenciesBy[outcome] ??= []).push(ms);
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        break;
      }
    }
  };
  await Promise.all(clients.flatMap((c) => Array.from({ length: config.streams }, () => worker(c))));
  const elapsedMs = performance.now() - started;
  for (const c of clients) c.close();
  const byOutcome = Object.fromEntries(Object.entries(latenciesBy).map(([k, v]) => [k, { p50Ms: quantile(v, 0.5), p99Ms: quantile(v, 0.99) }]));
  return { elapsedMs, outcomes, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), byOutcome, retries };
}

const configFile = process.argv[2];
if (!configFile) throw new Error("usage: tsx bench/loadgen.ts <config.json>");
const result = await main(JSON.parse(readFileSync(configFile, "utf8")) as LoadgenConfig);
process.stdout.write(JSON.stringify(result) + "\n");
