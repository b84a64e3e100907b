// Serves a Connect `ServiceImpl` on @grpc/grpc-js, so that one implementation answers on the
// grpc-js port exactly as it answers through connect-node: the same HandlerContext, the same codes
// and messages, the same error details. protobuf-es has no grpc-js generator; this is that piece.
// It lives in the contract because the Terraform provider serves its protocol through it too, so
// it must never import from server/.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, DescMethod, DescService, Message, MessageInitShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextValues,
  createHandlerContext,
  createServiceImplSpec,
} from "@connectrpc/connect";
import type {
  ContextValues,
  HandlerContext,
  Interceptor,
  MethodImplSpec,
  ServiceImpl,
  StreamResponse,
  UnaryResponse,
} from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { metadataToHeaders, toMetadata } from "./grpc-metadata.js";
import { toStatus } from "./grpc-status.js";

/** What every grpc-js server call offers (grpc-js does not export this type). */
export type ServerSurfaceCall = Pick<
  grpc.ServerUnaryCall<unknown, unknown>,
  "cancelled" | "metadata" | "getPeer" | "sendMetadata" | "getDeadline" | "getPath" | "getHost" | "getAuthContext"
> &
  NodeJS.EventEmitter;

/** Options shared by every method the adapter serves. */
export interface GrpcAdapterOptions {
  /** Receives every exception that is not a ConnectError (the client sees INTERNAL "internal error"). */
  onError?: (error: unknown, method: DescMethod) => void;
  /** Connect interceptors, applied as connect-node applies a router's interceptors. */
  interceptors?: Interceptor[];
  /** Seeds each call's `ctx.values`, like connect-node's `contextValues` option; fresh by default. */
  contextValues?: (call: ServerSurfaceCall) => ContextValues;
  /** Aborting it aborts `ctx.signal` of every running call, like connect-node's `shutdownSignal`. */
  shutdownSignal?: AbortSignal;
}

/**
 * A request as grpc-js hands it over. grpc-js answers INTERNAL when a deserializer throws, but a
 * request that is not valid protobuf is the client's fault, so decoding never throws: the handler
 * answers INVALID_ARGUMENT from `error`.
 */
export type DecodedRequest = { readonly message: Message } | { readonly error: ConnectError };

/** A grpc-js service definition and implementation for one protobuf-es service. */
export interface GrpcService {
  readonly definition: grpc.ServiceDefinition;
  readonly implementation: grpc.UntypedServiceImplementation;
}

/** Builds the grpc-js definition and implementation of `service` from a Connect implementation. */
export function createGrpcServiceDefinition<S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
  options: GrpcAdapterOptions = {},
): GrpcService {
  // createServiceImplSpec binds the methods and answers Unimplemented for missing ones, with the
  // message connect-node sends.
  const spec = createServiceImplSpec(service, impl);
  const definition: Record<string, grpc.MethodDefinition<DecodedRequest, Message>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const methodSpec = spec.methods[method.localName];
    if (methodSpec === undefined) continue;
    definition[method.name] = createMethodDefinition(method);
    implementation[method.name] = createHandler(methodSpec, options);
  }
  return { definition, implementation };
}

/** Registers `service` with its Connect implementation on a grpc-js server. */
export function addConnectService<S extends DescService>(
  server: Pick<grpc.Server, "addService">,
  service: S,
  impl: Partial<ServiceImpl<S>>,
  options: GrpcAdapterOptions = {},
): void {
  const { definition, implementation } = createGrpcServiceDefinition(service, impl, options);
  server.addService(definition, implementation);
}

/** The grpc-js method definition: path `/package.Service/Method` and protobuf-es serializers. */
export function createMethodDefinition(method: DescMethod): grpc.MethodDefinition<DecodedRequest, Message> {
  const kind = method.methodKind;
  return {
    path: `/${method.parent.typeName}/${method.name}`,
    originalName: method.localName,
    requestStream: kind === "client_streaming" || kind === "bidi_streaming",
    responseStream: kind === "server_streaming" || kind === "bidi_streaming",
    requestSerialize: (request) => {
      if ("error" in request) throw request.error;
      return asBuffer(toBinary(method.input, request.message));
    },
    requestDeserialize: (bytes) => {
      try {
        return { message: fromBinary(method.input, asUint8Array(bytes)) };
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        const message = `cannot decode message ${method.input.typeName} from binary: ${reason}`;
        return { error: new ConnectError(message, Code.InvalidArgument) };
      }
    },
    responseSerialize: (message) => asBuffer(toBinary(method.output, message)),
    responseDeserialize: (bytes) => fromBinary(method.output, asUint8Array(bytes)),
  };
}

type Spec<K extends MethodImplSpec["kind"]> = Extract<MethodImplSpec, { kind: K }>;
type AnyFn = Parameters<Interceptor>[0];
type WritableCall = grpc.ServerWritableStream<DecodedRequest, Message> | grpc.ServerDuplexStream<DecodedRequest, Message>;
type ReadableCall = grpc.ServerReadableStream<DecodedRequest, Message> | grpc.ServerDuplexStream<DecodedRequest, Message>;

function createHandler(spec: MethodImplSpec, options: GrpcAdapterOptions): grpc.UntypedHandleCall {
  switch (spec.kind) {
    case "unary":
      return (call: grpc.ServerUnaryCall<DecodedRequest, Message>, callback: grpc.sendUnaryData<Message>) =>
        void answerOnce(spec, call, callback, options, async () => single(call.request));
    case "client_streaming":
      return (call: grpc.ServerReadableStream<DecodedRequest, Message>, callback: grpc.sendUnaryData<Message>) =>
        void answerOnce(spec, call, callback, options, async () => readRequests(call));
    case "server_streaming":
      return (call: grpc.ServerWritableStream<DecodedRequest, Message>) =>
        void answerStream(spec, call, options, () => single(call.request));
    case "bidi_streaming":
      return (call: grpc.ServerDuplexStream<DecodedRequest, Message>) =>
        void answerStream(spec, call, options, () => readRequests(call));
  }
}

// Unary and client-streaming calls: one response message, sent through grpc-js's callback.
async function answerOnce(
  spec: Spec<"unary"> | Spec<"client_streaming">,
  call: ServerSurfaceCall,
  callback: grpc.sendUnaryData<Message>,
  options: GrpcAdapterOptions,
  input: () => Promise<Message | AsyncIterable<Message>>,
): Promise<void> {
  const { ctx, done } = createCallContext(spec.method, call, options);
  try {
    const res = await invoke(spec, ctx, await input(), options.interceptors);
    // Connect models a client stream's answer as a stream of one message.
    const message = res.stream ? await first(res.message) : res.message;
    sendHeader(call, res.header, spec.method, options);
    callback(null, message, toMetadata(res.trailer, spec.method, options));
  } catch (err) {
    sendHeader(call, ctx.responseHeader, spec.method, options);
    callback(toStatus(err, ctx, spec.method, options));
  } finally {
    done();
  }
}

// Server-streaming and bidi calls: messages are written as the implementation yields them.
async function answerStream(
  spec: Spec<"server_streaming"> | Spec<"bidi_streaming">,
  call: WritableCall,
  options: GrpcAdapterOptions,
  input: () => Message | AsyncIterable<Message>,
): Promise<void> {
  const { ctx, done } = createCallContext(spec.method, call, options);
  let headerSent = false;
  try {
    const res = await invoke(spec, ctx, input(), options.interceptors);
    if (!res.stream) throw new ConnectError("protocol error: interceptor returned a single message", Code.Internal);
    for await (const message of res.message) {
      // Connect sends response headers with the first message; the implementation sets them before.
      if (!headerSent) {
        sendHeader(call, res.header, spec.method, options);
        headerSent = true;
      }
      await write(call, message, ctx.signal);
    }
    if (!headerSent) sendHeader(call, res.header, spec.method, options);
    call.end(toMetadata(res.trailer, spec.method, options));
  } catch (err) {
    if (!headerSent) sendHeader(call, ctx.responseHeader, spec.method, options);
    // grpc-js's documented way to end a stream with a status: its "error" listener sends it.
    call.emit("error", toStatus(err, ctx, spec.method, options));
  } finally {
    done();
  }
}

// Runs the implementation behind the interceptors, as connect-node does for every protocol.
async function invoke(
  spec: MethodImplSpec,
  ctx: HandlerContext,
  input: Message | AsyncIterable<Message>,
  interceptors: Interceptor[] = [],
): Promise<UnaryResponse | StreamResponse> {
  const { method } = spec;
  const common = { service: method.parent, header: ctx.responseHeader, trailer: ctx.responseTrailer };
  const innermost: AnyFn = async (req) => {
    const reqCtx: HandlerContext = {
      ...ctx,
      service: req.service,
      requestHeader: req.header,
      signal: req.signal,
      values: req.contextValues,
    };
    const toOutput = (init: MessageInitShape<DescMessage>) => create(method.output, init);
    switch (spec.kind) {
      case "unary": {
        if (req.stream) break;
        const message = toOutput(await spec.impl(req.message, reqCtx));
        return { ...common, stream: false, method: spec.method, message };
      }
      case "client_streaming": {
        if (!req.stream) break;
        const message = once(toOutput(await spec.impl(req.message, reqCtx)));
        return { ...common, stream: true, method: spec.method, message };
      }
      case "server_streaming": {
        if (!req.stream) break;
        const message = mapIterable(spec.impl(await first(req.message), reqCtx), toOutput);
        return { ...common, stream: true, method: spec.method, message };
      }
      case "bidi_streaming": {
        if (!req.stream) break;
        const message = mapIterable(spec.impl(req.message, reqCtx), toOutput);
        return { ...common, stream: true, method: spec.method, message };
      }
    }
    throw new ConnectError("protocol error: interceptor changed the request kind", Code.Internal);
  };
  let next = innermost;
  for (const interceptor of [...interceptors].reverse()) next = interceptor(next);
  const requestCommon = {
    service: method.parent,
    requestMethod: ctx.requestMethod,
    url: ctx.url,
    signal: ctx.signal,
    header: ctx.requestHeader,
    contextValues: ctx.values,
  };
  if (spec.kind === "unary") {
    return next({ ...requestCommon, stream: false, method: spec.method, message: input as Message });
  }
  const messages = Symbol.asyncIterator in input ? input : once(input);
  return next({ ...requestCommon, stream: true, method: spec.method, message: messages });
}

// The reason every finished call's signal is aborted with. Without one, AbortController creates
// a DOMException with a stack trace per call, a large share of a cached verification's cost.
const CALL_ENDED = new ConnectError("the call has ended", Code.Canceled);

// A real Connect HandlerContext for a grpc-js call; `done` aborts its signal when the call ends,
// as connect-node does, which also clears the deadline timer.
function createCallContext(method: DescMethod, call: ServerSurfaceCall, options: GrpcAdapterOptions) {
  const secure = call.getAuthContext().transportSecurityType !== undefined;
  const ctx = createHandlerContext({
    service: method.parent,
    method,
    protocolName: "grpc",
    requestMethod: "POST",
    url: `${secure ? "https" : "http"}://${call.getHost() ?? "localhost"}${call.getPath()}`,
    timeoutMs: remainingMs(call.getDeadline()),
    shutdownSignal: options.shutdownSignal,
    requestHeader: metadataToHeaders(call.metadata),
    contextValues: options.contextValues?.(call) ?? createContextValues(),
  });
  // A client's cancellation aborts the context directly: one AbortController less per call.
  const onCancelled = () => ctx.abort(new ConnectError("the client canceled the call", Code.Canceled));
  call.once("cancelled", onCancelled);
  if (call.cancelled) onCancelled();
  const done = () => {
    call.off("cancelled", onCancelled);
    ctx.abort(CALL_ENDED);
  };
  return { ctx, done };
}

// grpc-js sends its default headers with the first message when none were sent explicitly.
function sendHeader(call: ServerSurfaceCall, header: Headers, method: DescMethod, options: GrpcAdapterOptions): void {
  const metadata = toMetadata(header, method, options);
  if (Object.keys(metadata.toJSON()).length > 0) call.sendMetadata(metadata);
}

function single(request: DecodedRequest): Message {
  if ("error" in request) throw request.error;
  return request.message;
}

async function* readRequests(call: ReadableCall): AsyncIterable<Message> {
  try {
    // destroyOnReturn: false, because destroying a duplex call would also end its response side.
    for await (const request of call.iterator({ destroyOnReturn: false })) yield single(request as DecodedRequest);
  } catch (err) {
    if (call.cancelled) throw new ConnectError("the client canceled the call", Code.Canceled);
    throw err;
  }
}

async function write(call: WritableCall, message: Message, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw signal.reason;
  if (call.write(message)) return;
  await new Promise<void>((resolve, reject) => {
    const onDrain = () => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    };
    const onAbort = () => {
      call.off("drain", onDrain);
      reject(signal.reason);
    };
    call.once("drain", onDrain);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

async function first<T>(messages: AsyncIterable<T>): Promise<T> {
  for await (const message of messages) return message;
  throw new ConnectError("protocol error: missing message", Code.Internal);
}

async function* once<T>(message: T): AsyncIterable<T> {
  yield message;
}

async function* mapIterable<T, U>(source: AsyncIterable<T>, fn: (value: T) => U): AsyncIterable<U> {
  for await (const value of source) yield fn(value);
}

function remainingMs(deadline: grpc.Deadline): number | undefined {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
// protobuf-es keeps subarrays of its input for bytes fields: hand it a plain Uint8Array, as
// connect-node does, so that implementations see the same types on both listeners.
const asUint8Array = (bytes: Buffer) => new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
