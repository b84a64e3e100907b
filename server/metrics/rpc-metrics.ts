// Calls and their latency, by service, method, protocol and code: the one metric every call pays
// for, on the verification path too. prom-client's own observe() builds a string from the labels
// and an object per call to find its series; here each method holds its series in plain numbers
// (a count per code, a sum and the buckets per protocol), found by two comparisons, and
// prom-client is handed them only when Prometheus scrapes: `apikeys_rpc_calls_total` through a
// Counter's collect(), the histogram as a metric object of the shape the Registry serializes.
import type { DescMethod } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { Counter, type Metric, type Registry } from "prom-client";

/**
 * Upper bounds of the latency buckets, in seconds: a kept answer takes microseconds, a cached
 * verification tens of them, a write milliseconds.
 */
export const RPC_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);
const BOUNDS_MS = RPC_DURATION_BUCKETS.map((s) => s * 1000);
// Index 0 is OK, which connect's Code has no member for; 1 to 16 are Code's.
const CODE_COUNT = Math.max(...Object.values(Code).filter((c) => typeof c === "number")) + 1;

/** Records one finished call of a method: its protocol (as HandlerContext.protocolName says), code (0 for OK) and server time. */
export type CallObserver = (protocol: string, code: number, ms: number) => void;

/** The calls of every method, kept in memory and exported at scrape time. */
export interface RpcMetrics {
  /** The observer of `method`'s calls, made once per method at wiring time. */
  forMethod(method: DescMethod): CallObserver;
}

/** One method's calls on one protocol. */
class Series {
  readonly codes = new Float64Array(CODE_COUNT);
  /** Per bucket (not cumulative), the last one past every bound. */
  readonly buckets = new Float64Array(BOUNDS_MS.length + 1);
  sumMs = 0;
  count = 0;
  constructor(readonly protocol: string) {}
}

/** One method's series; a method is called on one or two protocols, so the last one used is tried first. */
class MethodCalls {
  readonly series: Series[] = [];
  last: Series | undefined;
  constructor(readonly service: string, readonly method: string) {}

  observe(protocol: string, code: number, ms: number): void {
    let s = this.last;
    if (s === undefined || s.protocol !== protocol) s = this.find(protocol);
    s.codes[code >= 0 && code < CODE_COUNT ? code : Code.Unknown]! += 1;
    s.count++;
    s.sumMs += ms;
    let i = 0;
    while (i < BOUNDS_MS.length && ms > BOUNDS_MS[i]!) i++;
    s.buckets[i]! += 1;
  }

  find(protocol: string): Series {
    let s = this.series.find((x) => x.protocol === protocol);
    if (s === undefined) this.series.push((s = new Series(protocol)));
    return (this.last = s);
  }
}

/** Registers `apikeys_rpc_calls_total` and `apikeys_rpc_duration_seconds` on `registry`. */
export function createRpcMetrics(registry: Registry): RpcMetrics {
  const methods = new Map<DescMethod, MethodCalls>();
  const each = function* () {
    for (const m of methods.values()) for (const s of m.series) yield { m, s };
  };
  new Counter({
    name: "apikeys_rpc_calls_total",
    help: "Calls answered, by service, method, protocol (grpc, connect, grpc-web) and status code; kept answers on the gRPC port included",
    labelNames: ["service", "method", "protocol", "code"],
    registers: [registry],
    collect() {
      this.reset();
      for (const { m, s } of each()) {
        for (let code = 0; code < CODE_COUNT; code++) {
          if (s.codes[code]! > 0) this.inc({ service: m.service, method: m.method, protocol: s.protocol, code: codeName(code) }, s.codes[code]!);
        }
      }
    },
  });
  const histogram = {
    name: "apikeys_rpc_duration_seconds",
    help: "Time from a call reaching its method (or the gRPC answer cache) to its answer, by service, method and protocol",
    type: "histogram",
    aggregator: "sum",
    reset() {},
    async get() {
      const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
      for (const { m, s } of each()) {
        const labels = { service: m.service, method: m.method, protocol: s.protocol };
        let cumulative = 0;
        RPC_DURATION_BUCKETS.forEach((le, i) => {
          cumulative += s.buckets[i]!;
          values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative });
        });
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: "+Inf" }, value: s.count });
        values.push({ metricName: `${this.name}_sum`, labels, value: s.sumMs / 1000 });
        values.push({ metricName: `${this.name}_count`, labels, value: s.count });
      }
      return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
    },
  };
  // The Registry serializes any object of this shape (what Histogram.get() returns); its type
  // names only prom-client's own classes.
  registry.registerMetric(histogram as unknown as Metric);
  return {
    forMethod(method) {
      let calls = methods.get(method);
      if (calls === undefined) methods.set(method, (calls = new MethodCalls(method.parent.typeName, method.name)));
      const own = calls;
      return (protocol, code, ms) => own.observe(protocol, code, ms);
    },
  };
}

/** The code's name as gRPC spells it ("OK", "InvalidArgument"), as go-grpc-prometheus labels it. */
function codeName(code: number): string {
  return code === 0 ? "OK" : Code[code as Code];
}
