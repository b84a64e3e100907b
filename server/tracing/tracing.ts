// OpenTelemetry traces of the server's calls: one server span per RPC on either port, a child of
// the caller's span when the request carries W3C trace context (traceparent, tracestate), and a
// span under it for each database query the call makes (query-spans.ts). The SDK is loaded only
// when traces are on (trace-export.ts); a server without them never loads it, and its calls make
// no span and touch no context: every call site holds an optional Tracing and does nothing when it
// is undefined. Spans are made here explicitly: the SDK's auto-instrumentation patches modules as
// they are required, which it cannot do inside the esbuild bundle the server runs as.
// What a span carries: service, method and table names, codes, SQL text (Kysely sends every value
// as a parameter). Never a header, a message, a parameter value or an error's text: a client's
// error message can quote what it sent, and a Postgres message can quote a value.
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapGetter } from "@opentelemetry/api";
import type { Resource } from "@opentelemetry/resources";
import type { Sampler, SpanProcessor } from "@opentelemetry/sdk-trace";
import { Code } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { DescMethod } from "@bufbuild/protobuf";
import type { Logger as KyselyLogger } from "kysely";
import { createQuerySpans } from "./query-spans.js";

/** How an RPC reached us: `grpc` (the gRPC port; gRPC and gRPC-Web on the HTTP port) or Connect. */
export type RpcSystem = "grpc" | "connect_rpc";

/** A request header by its lowercase name (repeats joined with ","), or undefined. */
export type HeaderLookup = (name: string) => string | undefined;

/** Tracing as the listeners and the database use it. */
export interface Tracing {
  /** Starts the server span of one call, a child of the trace context in its request headers. */
  startRpc(method: DescMethod, system: RpcSystem, header: HeaderLookup): RpcSpan;
  /** Kysely's log hook for a database at `databaseUrl`: a span for each query made inside a call's span. */
  queryLog(databaseUrl: string): KyselyLogger;
  /** Exports what is still buffered and stops. */
  shutdown(): Promise<void>;
}

/** The server span of one call. */
export interface RpcSpan {
  /** Runs `fn` with this span current, so that the queries it makes (awaited or not) are its children. */
  run<T>(fn: () => T): T;
  /** Ends the span with the call's code (Connect's and gRPC's numbers are the same), 0 when it succeeded. */
  end(code: number): void;
}

export interface TracingOptions {
  /** Where ended spans go (a batch processor with the OTLP exporter; in tests, an in-memory one). */
  readonly spanProcessors: SpanProcessor[];
  /** Default: parent-based, always on (the SDK's and the specification's default). */
  readonly sampler?: Sampler;
  readonly resource?: Resource;
}

// Codes that mean the server failed, not the client (OpenTelemetry's RPC conventions): only these
// mark a server span as an error.
const SERVER_FAULTS: ReadonlySet<number> = new Set([Code.Unknown, Code.DeadlineExceeded, Code.Unimplemented, Code.Internal, Code.Unavailable, Code.DataLoss]);

// The W3C propagator asks for traceparent and tracestate only; it never lists the headers.
const HEADERS: TextMapGetter<HeaderLookup> = { get: (lookup, name) => lookup(name), keys: () => [] };

let contextManagerSet = false;

/** Tracing that hands every ended span to `options.spanProcessors`. */
export async function createTracing(options: TracingOptions): Promise<Tracing> {
  const [{ TracerProvider }, { AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }] = await Promise.all([
    import("@opentelemetry/sdk-trace"),
    import("@opentelemetry/context-async-hooks"),
    import("@opentelemetry/core"),
  ]);
  // The active context is process-wide in OpenTelemetry's API: one manager serves every Tracing.
  if (!contextManagerSet) contextManagerSet = context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const provider = new TracerProvider({ spanProcessors: options.spanProcessors, sampler: options.sampler, resource: options.resource });
  const tracer = provider.getTracer("apikeys");
  const propagator = new W3CTraceContextPropagator();
  return {
    startRpc: (method, system, header) => {
      const parent = propagator.extract(ROOT_CONTEXT, header, HEADERS);
      const span = tracer.startSpan(
        `${method.parent.typeName}/${method.name}`,
        { kind: SpanKind.SERVER, attributes: { "rpc.system": system, "rpc.service": method.parent.typeName, "rpc.method": method.name } },
        parent,
      );
      return new ServerSpan(span, trace.setSpan(parent, span), system);
    },
    queryLog: (databaseUrl) => createQuerySpans(tracer, databaseUrl),
    shutdown: () => provider.shutdown(),
  };
}

class ServerSpan implements RpcSpan {
  constructor(
    private readonly span: Span,
    private readonly ctx: Context,
    private readonly system: RpcSystem,
  ) {}

  run<T>(fn: () => T): T {
    return context.with(this.ctx, fn);
  }

  end(code: number): void {
    const { span } = this;
    if (this.system === "grpc") span.setAttribute("rpc.grpc.status_code", code);
    else if (code !== 0) span.setAttribute("rpc.connect_rpc.error_code", codeToString(code as Code));
    if (SERVER_FAULTS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message: codeToString(code as Code) });
    span.end();
  }
}
