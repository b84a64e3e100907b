// Runs a provider as a go-plugin plugin: check that Terraform launched us, mint a certificate,
// serve gRPC with mutual TLS on 127.0.0.1, and print the handshake line as the first and only
// stdout output. Terraform then talks to us until it calls GRPCController.Shutdown.
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { addConnectService } from "../../contract/grpc-adapter.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { GRPCBroker } from "../gen/plugin/grpc_broker_pb.js";
import { GRPCController } from "../gen/plugin/grpc_controller_pb.js";
import { GRPCStdio } from "../gen/plugin/grpc_stdio_pb.js";
import { Provider } from "../gen/tfplugin6/tfplugin6_pb.js";
import { createPluginCertificate } from "./certificate.js";
import { NotLaunchedByTerraformError, handshakeLine, readPluginEnvironment, serverCredentials } from "./handshake.js";
import { broker, createController, health, stdio } from "./plugin-services.js";
import { createProviderService } from "./provider-service.js";
import type { ProviderDefinition } from "./resource.js";

/** Binds 127.0.0.1 on a free port, within PLUGIN_MIN_PORT..PLUGIN_MAX_PORT when Terraform sets them. */
async function bindInRange(server: grpc.Server, credentials: grpc.ServerCredentials, min?: number, max?: number): Promise<number> {
  const port = min === undefined || max === undefined ? 0 : await freePort(min, max);
  return new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, credentials, (err, bound) => (err ? reject(err) : resolve(bound))));
}

/** The first port in the range that a plain listener can take; grpc-js logs every failed bind. */
async function freePort(min: number, max: number): Promise<number> {
  for (let port = min; port <= max; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once("error", () => resolve(false));
      probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port from PLUGIN_MIN_PORT=${min} to PLUGIN_MAX_PORT=${max}`);
}

// Terraform's own limit for provider messages (256 MiB): large plans must not fail on size.
const MAX_MESSAGE_BYTES = 256 << 20;

/** Serves `def` to the Terraform process that started us; never returns normally. */
export async function servePlugin<C>(def: ProviderDefinition<C>): Promise<void> {
  // Ctrl-C reaches the whole process group; Terraform answers it with StopProvider and Shutdown,
  // so it must not end us, not even while we start.
  process.on("SIGINT", () => {});
  let env;
  try {
    env = readPluginEnvironment();
  } catch (e) {
    if (!(e instanceof NotLaunchedByTerraformError)) throw e;
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
  const cert = createPluginCertificate();
  const server = new grpc.Server({ "grpc.max_receive_message_length": MAX_MESSAGE_BYTES, "grpc.max_send_message_length": MAX_MESSAGE_BYTES });
  // Ends the stdio and broker streams, which never end on their own, so that the server can close
  // once the Shutdown call has its answer; a stuck call cannot keep us for more than a second.
  const shutdown = new AbortController();
  const exit = () => {
    shutdown.abort();
    server.tryShutdown(() => process.exit(0));
    setTimeout(() => {
      server.forceShutdown();
      process.exit(0);
    }, 1000).unref();
  };
  // Terraform's provider log is our stderr; only unexpected errors go there.
  const log = (message: string) => process.stderr.write(`[apikeys provider] ${message}\n`);
  const options = { shutdownSignal: shutdown.signal };
  addConnectService(server, Provider, createProviderService(def, log), options);
  addConnectService(server, GRPCController, createController(exit), options);
  addConnectService(server, GRPCStdio, stdio, options);
  addConnectService(server, GRPCBroker, broker, options);
  addConnectService(server, Health, health, options);
  const port = await bindInRange(server, serverCredentials(cert, env.clientCertPem), env.minPort, env.maxPort);
  process.stdout.write(handshakeLine(port, cert.certDer));
  // If Terraform dies without Shutdown, we are re-parented: do not linger.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) exit();
  }, 1000).unref();
}
