// The services go-plugin expects next to the provider: the controller (Terraform's way to end the
// process quickly), stdio and broker streams (which we do not use but must answer, or go-plugin
// logs errors and waits), and the health check for the service named "plugin".
import type { ServiceImpl } from "@connectrpc/connect";
import { HealthCheckResponse_ServingStatus, type Health } from "../gen/grpc/health/v1/health_pb.js";
import type { GRPCBroker } from "../gen/plugin/grpc_broker_pb.js";
import type { GRPCController } from "../gen/plugin/grpc_controller_pb.js";
import type { GRPCStdio } from "../gen/plugin/grpc_stdio_pb.js";

/** Resolves when the signal aborts: streams stay open until Terraform or shutdown ends them. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
}

/** GRPCController: Shutdown answers, and `exit` closes the server once that answer is sent. */
export function createController(exit: () => void): Partial<ServiceImpl<typeof GRPCController>> {
  return {
    async shutdown() {
      setImmediate(exit);
      return {};
    },
  };
}

/** GRPCStdio: we write nothing to stdout or stderr worth forwarding; the stream stays idle. */
export const stdio: Partial<ServiceImpl<typeof GRPCStdio>> = {
  async *streamStdio(_req, ctx) {
    await aborted(ctx.signal);
  },
};

/** GRPCBroker: no extra connections are ever brokered; drain what Terraform sends. */
export const broker: Partial<ServiceImpl<typeof GRPCBroker>> = {
  async *startStream(requests) {
    for await (const _ of requests);
  },
};

/** Health: always serving, for "plugin" and the server as a whole. */
export const health: Partial<ServiceImpl<typeof Health>> = {
  async check() {
    return { status: HealthCheckResponse_ServingStatus.SERVING };
  },
  async *watch(_req, ctx) {
    yield { status: HealthCheckResponse_ServingStatus.SERVING };
    await aborted(ctx.signal);
  },
};
