// Runs a provider as a go-plugin plugin: check that Terraform launched us, mint a certificate,
// serve gRPC with mutual TLS on 127.0.0.1, and print the handshake line as the first and only
// stdout output. Terraform then talks to us until it calls GRPCController.Shutdown.
import * as grpc from "@grpc/grpc-js";
import { addConnectService } from "../../contract/grpc-adapter.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { GRPCBroker } from "../gen/plugin/grpc_broker_pb.js";
import { GRPCController } from "../gen/plugin/grpc_controller_pb.js";
import { GRPCStdio } from "../gen/plugin/grpc_stdio_pb.js";
import { createPluginCertificate } from "./certificate.js";
import { NotLaunchedByTerraformError, handshakeLine, readPluginEnvironment, serverCredentials } from "./handshake.js";
import { broker, createController, health, stdio } from "./plugin-services.js";
import type { ProviderDefinition } from "./resource.js";

/**
 * Binds 127.0.0.1 on a free port, within PLUGIN_MIN_PORT..PLUGIN_MAX_PORT when Terraform sets them
 * (it always does, and starts several providers at once): from a random port of the range, the
 * next one until a bind succeeds. grpc-js logs every failed bind, so its log is off meanwhile.
 */
async function bindInRange(server: grpc.Server, credentials: grpc.ServerCredentials, min?: number, max?: number): Promise<number> {
  const bind = (port: number) =>
    new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, credentials, (err, bound) => (err ? reject(err) : resolve(bound))));
  if (min === undefined || max === undefined || max < min) return bind(0);
  const size = max - min + 1;
  const first = Math.floor(Math.random() * size);
  grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  try {
    for (let i = 0; i < Math.min(size, 100); i++) {
      try {
        return await bind(min + ((first + i) % size));
      } catch {
        // Taken by now: try the next one.
      }
    }
  } finally {
    grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
  }
  throw new Error(`no free port found from PLUGIN_MIN_PORT=${min} to PLUGIN_MAX_PORT=${max}`);
}

// Terraform's own limit for provider messages (256 MiB): large plans must not fail on size.
const MAX_MESSAGE_BYTES = 256 << 20;

/**
 * Serves the provider `load` gives to the Terraform process that started us. The provider, its
 * resources and the tfplugin6 descriptors load after the handshake line: that is about a third
 * of start-up, and it then overlaps Terraform's connecting. In the bundle these imports run as
 * microtasks, which finish before the event loop reads any request, so no call ever finds the
 * Provider service missing.
 */
export async function servePlugin<C>(load: () => Promise<ProviderDefinition<C>>): Promise<void> {
  // Ctrl-C reaches the whole process group; Terraform answers it with StopProvider and Shutdown,
  // so it must not end us, not even while we start.
  process.on("SIGINT", () => {});
  // Taken first: a parent that dies while we start must still be noticed.
  const parent = process.ppid;
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
  addConnectService(server, GRPCController, createController(exit), options);
  addConnectService(server, GRPCStdio, stdio, options);
  addConnectService(server, GRPCBroker, broker, options);
  addConnectService(server, Health, health, options);
  const port = await bindInRange(server, serverCredentials(cert, env.clientCertPem), env.minPort, env.maxPort);
  process.stdout.write(handshakeLine(port, cert.certDer));
  const [{ Provider }, { createProviderService }, def] = await Promise.all([
    import("../gen/tfplugin6/tfplugin6_pb.js"),
    import("./provider-service.js"),
    load(),
  ]);
  addConnectService(server, Provider, createProviderService(def, log), options);
  // If Terraform dies without Shutdown, we are re-parented: do not linger.
  setInterval(() => {
    if (process.ppid !== parent) exit();
  }, 1000).unref();
}
