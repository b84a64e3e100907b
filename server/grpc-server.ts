// The gRPC port (@grpc/grpc-js): every service through the contract's adapter, plus the standard
// health and reflection services, so that grpcurl, buf curl and load balancers work unchanged.
import { create, toBinary } from "@bufbuild/protobuf";
import type { DescFile, DescService } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import type { ServingStatus, ServingStatusMap } from "grpc-health-check";
import { createGrpcServiceDefinition, type GrpcAdapterOptions } from "../contract/grpc-adapter.js";
import { checkGrpcRequestFraming } from "./grpc-request-framing.js";
import { DEFAULT_IDLE_TIMEOUT_MS, type ListenerOptions } from "./listener-options.js";
import type { Readiness } from "./readiness.js";
import { tracedGrpcImplementation } from "./tracing/grpc-spans.js";

/** Each service with its Connect implementation, every pair type-checked (a tuple of any length). */
export type ServiceRegistrations<T extends readonly DescService[]> = {
  readonly [K in keyof T]: {
    readonly service: T[K];
    readonly impl: Partial<ServiceImpl<T[K]>>;
    /** Which of its methods keep answers to repeated calls (see the adapter's AnswerCache). */
    readonly answerCache?: GrpcAdapterOptions["answerCache"];
  };
};

export interface GrpcServerOptions<T extends readonly DescService[] = readonly DescService[]> extends ListenerOptions {
  readonly services: ServiceRegistrations<T>;
  /** What the health service reports for the server and each service; SERVING when absent. */
  readonly readiness?: Pick<Readiness, "state" | "onChange">;
}

export interface GrpcServer {
  readonly port: number;
  readonly server: grpc.Server;
  /** Reports NOT_SERVING, lets in-flight calls finish (bounded), then stops. Idempotent. */
  shutdown(): Promise<void>;
}

/** Starts the grpc-js listener with the services, health and reflection. */
export async function startGrpcServer<const T extends readonly DescService[]>(
  opts: GrpcServerOptions<T>,
): Promise<GrpcServer> {
  const log = opts.log.child({ listener: "grpc" });
  const server = new grpc.Server({
    "grpc.max_receive_message_length": opts.maxMessageBytes,
    // node:http2 starts a session as soon as a TCP connection is accepted, so this also closes
    // connections that send nothing or only part of the preface (tested); without it grpc-js
    // keeps every connection forever.
    "grpc.max_connection_idle_ms": opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
  });
  // Each pair was checked against its own service by ServiceRegistrations; past that point the
  // list is heterogeneous and only the untyped view is left.
  type Untyped = { service: DescService; impl: Partial<ServiceImpl<DescService>>; answerCache?: GrpcAdapterOptions["answerCache"] };
  const services = opts.services as unknown as readonly Untyped[];
  for (const { service, impl, answerCache } of services) {
    const { definition, implementation } = createGrpcServiceDefinition(service, impl, {
      onError: (error, method) => log.error("rpc failed", { rpc: `${service.typeName}/${method.name}`, error }),
      answerCache,
    });
    server.addService(definition, opts.tracing ? tracedGrpcImplementation(service, implementation, opts.tracing) : implementation);
  }

  const names = services.map(({ service }) => service.typeName);
  const statusOf = (serving: boolean): ServingStatus => (serving ? "SERVING" : "NOT_SERVING");
  const health = new HealthImplementation(statusMap(["", ...names], statusOf(opts.readiness?.state().status !== "not_serving")));
  const setHealth = (status: ServingStatus) => {
    for (const name of ["", ...names]) health.setStatus(name, status);
  };
  // Every service needs the database and the replica listener alike, so all follow one readiness.
  const unsubscribe = opts.readiness?.onChange((state) => setHealth(statusOf(state.status === "serving")));
  health.addToServer(server);
  new ReflectionService(reflectionPackageDefinition(services.map((s) => s.service))).addToServer(server);

  const credentials = opts.tls
    ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: opts.tls.cert, private_key: opts.tls.key }], false)
    : grpc.ServerCredentials.createInsecure();
  const address = `${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${opts.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, credentials, (err, bound) => {
      if (err) return reject(err);
      // grpc-js decides some requests' codes before any hook of its own (see grpc-request-framing.ts).
      if (!checkGrpcRequestFraming(server)) {
        log.warn("grpc-js's http/2 servers are not reachable: a malformed grpc-timeout or compression answers INTERNAL, and a repeated authorization header goes unseen");
      }
      resolve(bound);
    });
  });

  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      // Load balancers watching health stop sending traffic while in-flight calls finish.
      unsubscribe?.();
      setHealth("NOT_SERVING");
      const graceful = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), opts.shutdownTimeoutMs ?? 10_000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!graceful) {
        log.warn("in-flight calls did not finish in time; cancelling them");
        server.forceShutdown();
      }
    })();
    return stopping;
  };
  return { port, server, shutdown };
}

function statusMap(names: string[], status: ServingStatus): ServingStatusMap {
  return Object.fromEntries(names.map((name) => [name, status]));
}

type ReflectionInput = ConstructorParameters<typeof ReflectionService>[0];

/**
 * The input @grpc/reflection expects: a proto-loader package definition, of which it reads only
 * each entry's `fileDescriptorProtos` (serialized FileDescriptorProtos). We hand it the
 * protobuf-es descriptors directly, so that clients see the original files (proto-loader would
 * regroup them per package), and the server needs no proto-loader at runtime.
 */
export function reflectionPackageDefinition(services: readonly DescService[]): ReflectionInput {
  const files = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (files.has(file.name)) return;
    files.set(file.name, file);
    file.dependencies.forEach(visit);
  };
  services.forEach((service) => visit(service.file));
  const fileDescriptorProtos = [...files.values()].map((file) => file.proto);
  fileDescriptorProtos.push(healthFileDescriptor());
  const definition = {
    "apikeys.reflection": {
      format: "Protocol Buffer 3 FileDescriptorProto",
      type: {},
      fileDescriptorProtos: fileDescriptorProtos.map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file))),
    },
  };
  // The shape is proto-loader's, minus the parsed `type`, which the reflection service never reads.
  return definition as unknown as ReflectionInput;
}

/**
 * grpc/health/v1/health.proto as a descriptor. grpc-health-check ships only a proto-loader
 * rendering of it, whose map entry ("Statuses" instead of "StatusesEntry") buf curl and Go
 * clients reject, so the file is written out here.
 */
function healthFileDescriptor() {
  const pkg = ".grpc.health.v1.";
  const field = (name: string, number: number, type: Type, typeName?: string, label = Label.OPTIONAL) => ({
    name,
    number,
    type,
    label,
    typeName,
  });
  return create(FileDescriptorProtoSchema, {
    name: "grpc/health/v1/health.proto",
    package: "grpc.health.v1",
    syntax: "proto3",
    messageType: [
      { name: "HealthCheckRequest", field: [field("service", 1, Type.STRING)] },
      {
        name: "HealthCheckResponse",
        field: [field("status", 1, Type.ENUM, `${pkg}HealthCheckResponse.ServingStatus`)],
        enumType: [
          {
            name: "ServingStatus",
            value: ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"].map((name, number) => ({ name, number })),
          },
        ],
      },
      { name: "HealthListRequest" },
      {
        name: "HealthListResponse",
        field: [field("statuses", 1, Type.MESSAGE, `${pkg}HealthListResponse.StatusesEntry`, Label.REPEATED)],
        nestedType: [
          {
            name: "StatusesEntry",
            options: { mapEntry: true },
            field: [field("key", 1, Type.STRING), field("value", 2, Type.MESSAGE, `${pkg}HealthCheckResponse`)],
          },
        ],
      },
    ],
    service: [
      {
        name: "Health",
        method: [
          { name: "Check", inputType: `${pkg}HealthCheckRequest`, outputType: `${pkg}HealthCheckResponse` },
          { name: "List", inputType: `${pkg}HealthListRequest`, outputType: `${pkg}HealthListResponse` },
          {
            name: "Watch",
            inputType: `${pkg}HealthCheckRequest`,
            outputType: `${pkg}HealthCheckResponse`,
            serverStreaming: true,
          },
        ],
      },
    ],
  });
}
