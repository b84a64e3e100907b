// `apikeys serve`'s traces as the OTEL_* variables ask (trace-settings.ts): batched and exported
// over OTLP/HTTP with protobuf to a collector, through the official SDK, loaded only then.
import { diag, DiagLogLevel } from "@opentelemetry/api";
import type { Logger } from "../logger.js";
import { traceSettingsFromEnv, type TraceSettings } from "./trace-settings.js";
import { createTracing, type Tracing } from "./tracing.js";

/**
 * Starts exporting traces when the environment turns them on; undefined, having loaded nothing,
 * when it does not. The process's own environment, because the SDK's exporter reads it too.
 */
export async function startTracing(log: Logger): Promise<Tracing | undefined> {
  const env = process.env;
  const settings = traceSettingsFromEnv(env);
  if (settings === undefined) return undefined;
  const [sdk, { OTLPTraceExporter }, resources] = await Promise.all([
    import("@opentelemetry/sdk-trace"),
    import("@opentelemetry/exporter-trace-otlp-proto"),
    import("@opentelemetry/resources"),
  ]);
  // The SDK reports failed exports (a collector that is down) through its diagnostic logger,
  // which says nothing unless one is set.
  const otelLog = log.child({ component: "opentelemetry" });
  const say = (message: string) => otelLog.warn(message);
  diag.setLogger({ error: say, warn: say, info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN);
  // The exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, _TIMEOUT, _COMPRESSION itself.
  const exporter = new OTLPTraceExporter();
  // service.name is "apikeys" unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise.
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ "service.name": "apikeys" }))
    .merge(resources.detectResources({ detectors: [resources.resourceAttributesEnvDetector, resources.serviceNameEnvDetector] }));
  const tracing = await createTracing({
    spanProcessors: [new sdk.BatchSpanProcessor({ exporter, ...settings.batch })],
    sampler: createSampler(sdk, settings),
    resource,
  });
  log.info("exporting traces", { endpoint: endpointOrigin(env), sampler: settings.sampler, ratio: settings.ratio });
  return tracing;
}

type Sdk = typeof import("@opentelemetry/sdk-trace");

function createSampler(sdk: Sdk, settings: TraceSettings) {
  const ratio = () => new sdk.TraceIdRatioBasedSampler(settings.ratio);
  switch (settings.sampler) {
    case "always_on":
      return new sdk.AlwaysOnSampler();
    case "always_off":
      return new sdk.AlwaysOffSampler();
    case "traceidratio":
      return ratio();
    case "parentbased_always_on":
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() });
    case "parentbased_always_off":
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new sdk.ParentBasedSampler({ root: ratio() });
  }
}

/** Where spans go, for the start-up line: the origin only, since a URL can carry credentials. */
function endpointOrigin(env: NodeJS.ProcessEnv): string {
  const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || "http://localhost:4318";
  return new URL(url).origin;
}
