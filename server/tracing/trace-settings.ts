// Whether `apikeys serve` exports traces, and how, from the standard OpenTelemetry variables.
// Off unless they ask for it: the SDK's own default (OTEL_TRACES_EXPORTER=otlp when unset) would
// send spans to localhost:4318 on every deployment that never asked for tracing. The SDK warns
// and carries on with a default for a value it does not understand; here such a value stops the
// start with a message naming the variable, as every other setting does.
import { ConfigError } from "../config.js";

const SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;

/** OTEL_TRACES_SAMPLER's values (the specification's, less the Jaeger and x-ray ones). */
export type SamplerName = (typeof SAMPLERS)[number];

/** How traces are sampled and batched; the exporter reads its own OTEL_EXPORTER_OTLP_* variables. */
export interface TraceSettings {
  readonly sampler: SamplerName;
  /** The ratio of the traceidratio samplers, from OTEL_TRACES_SAMPLER_ARG (1 when unset). */
  readonly ratio: number;
  /** OTEL_BSP_*; undefined leaves the SDK's default. */
  readonly batch: {
    readonly scheduledDelayMillis: number | undefined;
    readonly exportTimeoutMillis: number | undefined;
    readonly maxQueueSize: number | undefined;
    readonly maxExportBatchSize: number | undefined;
  };
}

/** The variables that turn traces on or off and shape them (documented in the README's Traces section). */
export const TRACE_VARIABLES = [
  "OTEL_SDK_DISABLED",
  "OTEL_TRACES_EXPORTER",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  "OTEL_EXPORTER_OTLP_PROTOCOL",
  "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
  "OTEL_EXPORTER_OTLP_HEADERS",
  "OTEL_EXPORTER_OTLP_TIMEOUT",
  "OTEL_EXPORTER_OTLP_COMPRESSION",
  "OTEL_TRACES_SAMPLER",
  "OTEL_TRACES_SAMPLER_ARG",
  "OTEL_SERVICE_NAME",
  "OTEL_RESOURCE_ATTRIBUTES",
  "OTEL_BSP_SCHEDULE_DELAY",
  "OTEL_BSP_EXPORT_TIMEOUT",
  "OTEL_BSP_MAX_QUEUE_SIZE",
  "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
] as const;

/**
 * The trace settings `env` asks for, or undefined when traces are off: OTEL_SDK_DISABLED=true, or
 * OTEL_TRACES_EXPORTER=none, or neither OTEL_TRACES_EXPORTER=otlp nor an OTLP endpoint set.
 */
export function traceSettingsFromEnv(env: NodeJS.ProcessEnv): TraceSettings | undefined {
  const value = (name: string) => env[name]?.trim() || undefined;
  if (value("OTEL_SDK_DISABLED")?.toLowerCase() === "true") return undefined;
  const exporter = value("OTEL_TRACES_EXPORTER")?.toLowerCase();
  if (exporter === "none") return undefined;
  if (exporter !== undefined && exporter !== "otlp") {
    throw new ConfigError(`OTEL_TRACES_EXPORTER must be otlp or none (apikeys exports traces over OTLP only); got "${env.OTEL_TRACES_EXPORTER}"`);
  }
  for (const name of ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"]) {
    const url = value(name);
    if (url !== undefined && !isHttpUrl(url)) {
      throw new ConfigError(`${name} must be an http or https URL, such as http://collector:4318; got "${url}"`);
    }
  }
  const endpoint = value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") ?? value("OTEL_EXPORTER_OTLP_ENDPOINT");
  if (exporter === undefined && endpoint === undefined) return undefined;
  for (const name of ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]) {
    const protocol = value(name);
    if (protocol !== undefined && protocol !== "http/protobuf") {
      throw new ConfigError(`${name} must be http/protobuf (the protocol apikeys exports traces with; collectors take it on port 4318); got "${protocol}"`);
    }
  }
  const sampler = (value("OTEL_TRACES_SAMPLER") ?? "parentbased_always_on") as SamplerName;
  if (!SAMPLERS.includes(sampler)) throw new ConfigError(`OTEL_TRACES_SAMPLER must be one of ${SAMPLERS.join(", ")}; got "${sampler}"`);
  const arg = value("OTEL_TRACES_SAMPLER_ARG");
  const ratio = arg === undefined ? 1 : Number(arg);
  if (!(ratio >= 0 && ratio <= 1)) throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, such as 0.01; got "${arg}"`);
  const count = (name: string) => {
    const raw = value(name);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 0) throw new ConfigError(`${name} must be a whole number, 0 or more; got "${raw}"`);
    return n;
  };
  return {
    sampler,
    ratio,
    batch: {
      scheduledDelayMillis: count("OTEL_BSP_SCHEDULE_DELAY"),
      exportTimeoutMillis: count("OTEL_BSP_EXPORT_TIMEOUT"),
      maxQueueSize: count("OTEL_BSP_MAX_QUEUE_SIZE"),
      maxExportBatchSize: count("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"),
    },
  };
}

function isHttpUrl(text: string): boolean {
  try {
    return /^https?:$/.test(new URL(text).protocol);
  } catch {
    return false;
  }
}
