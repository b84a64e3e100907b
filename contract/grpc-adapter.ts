// Serves a Connect `ServiceImpl` on @grpc/grpc-js, so that one implementation answers on the
// grpc-js port exactly as it answers through connect-node: the same HandlerContext, the same codes
// and messages, the same error details. protobuf-es has no grpc-js generator; this is that piece.
// It lives in the contract because the Terraform provider serves its protocol through it too, so
// it must never import from server/.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, DescMethod, DescService, Message, MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createServiceImplSpec } from "@connectrpc/connect";
import type {
  ContextValues,
  HandlerContext,
  Interceptor,
  MethodImplSpec,
  ServiceImpl,
} from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { GrpcCallContext } from "./grpc-call-context.js";
import { toMetadata } from "./grpc-metadata.js";
import { toStatus } from "./grpc-status.js";
import "./protobuf-text-encoding.js";

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
  /**
   * The answer cache of a unary method, if it has one. Not used behind interceptors, which must see
   * every call, nor with contextValues, which an answer may depend on unbeknown to the cache.
   */
  answerCache?: (method: DescMethod) => AnswerCache | undefined;
}

/**
 * Answers of a unary method, kept to be sent again, encoded, for a repeated call: a hit neither
 * decodes the request nor runs the implementation. Which calls are the same, and which answers
 * may be kept and for how long, is the cache's business; the implementation tells it through the
 * call's context, which the cache is offered with every answer.
 */
export interface AnswerCache<Miss extends object = object> {
  /**
   * The answer kept for this call; or what `offer` is handed back once the answer is computed;
   * or undefined when nothing about this call is worth keeping.
   */
  lookup(call: ServerSurfaceCall, request: Buffer): Buffer | Miss | undefined;
  /** Each answer computed after a miss, encoded, with the context the implementation ran in. */
  offer(miss: Miss, answer: Buffer, ctx: HandlerContext): void;
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
    const cacheable = methodSpec.kind === "unary" && !options.interceptors?.length && !options.contextValues;
    const answers = cacheable ? options.answerCache?.(method) : undefined;
    if (answers) {
      // The request stays bytes until the cache has looked it up; the handler decodes it on a miss.
      definition[method.name] = { ...createMethodDefinition(method), requestDeserialize: (bytes: Buffer) => bytes as unknown as DecodedRequest };
      implementation[method.name] = reusingAnswers(methodSpec as Spec<"unary">, answers, options);
    } else {
      definition[method.name] = createMethodDefinition(method);
      implementation[method.name] = createHandler(methodSpec, options);
    }
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

/** The grpc-js method definition: path `/package.Service/Method` and the messages' codecs. */
export function createMethodDefinition(method: DescMethod): grpc.MethodDefinition<DecodedRequest, Message> {
  const kind = method.methodKind;
  const input = binaryCodec(method.input);
  const output = binaryCodec(method.output);
  return {
    path: `/${method.parent.typeName}/${method.name}`,
    originalName: method.localName,
    requestStream: kind === "client_streaming" || kind === "bidi_streaming",
    responseStream: kind === "server_streaming" || kind === "bidi_streaming",
    requestSerialize: (request) => {
      if ("error" in request) throw request.error;
      return input.encode(request.message);
    },
    requestDeserialize: requestDecoder(method),
    // An answer from an answer cache, or one encoded for it, is already bytes.
    responseSerialize: (message) => (Buffer.isBuffer(message) ? message : output.encode(message)),
    responseDeserialize: (bytes) => output.decode(bytes),
  };
}

/** protobuf-es's binary format for `desc`, in the Buffers grpc-js hands over and takes. */
function binaryCodec(desc: DescMessage) {
  return {
    encode: (message: Message) => asBuffer(toBinary(desc, message)),
    decode: (bytes: Uint8Array) => fromBinary(desc, asUint8Array(bytes)),
  };
}

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
// protobuf-es keeps subarrays of its input for bytes fields: it gets a plain Uint8Array, as from
// connect-node, so that implementations see the same types on both listeners.
const asUint8Array = (bytes: Uint8Array) => (Buffer.isBuffer(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes);

/** Decodes `method`'s requests, made once per method (its codec is looked up here, not per call). */
function requestDecoder(method: DescMethod): (bytes: Buffer) => DecodedRequest {
  const input = binaryCodec(method.input);
  return (bytes) => {
    try {
      return { message: input.decode(bytes) };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const message = `cannot decode message ${method.input.typeName} from binary: ${reason}`;
      return { error: new ConnectError(message, Code.InvalidArgument) };
    }
  };
}

type Spec<K extends MethodImplSpec["kind"]> = Extract<MethodImplSpec, { kind: K }>;
type AnyFn = Parameters<Interceptor>[0];
type WritableCall = grpc.ServerWritableStream<DecodedRequest, Message> | grpc.ServerDuplexStream<DecodedRequest, Message>;
type ReadableCall = grpc.ServerReadableStream<DecodedRequest, Message> | grpc.ServerDuplexStream<DecodedRequest, Message>;

function createHandler(spec: MethodImplSpec, options: GrpcAdapterOptions): grpc.UntypedHandleCall {
  switch (spec.kind) {
    case "unary":
      if (!options.interceptors?.length) {
        return (call: grpc.ServerUnaryCall<DecodedRequest, Message>, callback: grpc.sendUnaryData<Message>) =>
          answerUnary(spec, call, call.request, callback, options);
      }
      return (call: grpc.ServerUnaryCall<DecodedRequest, Message>, callback: grpc.sendUnaryData<Message>) =>
        void answerOnce(spec, call, callback, options, singleRequest);
    case "client_streaming":
      return (call: grpc.ServerReadableStream<DecodedRequest, Message>, callback: grpc.sendUnaryData<Message>) =>
        void answerOnce(spec, call, callback, options, readRequests);
    case "server_streaming":
      return (call: grpc.ServerWritableStream<DecodedRequest, Message>) =>
        void answerStream(spec, call, options, singleRequest);
    case "bidi_streaming":
      return (call: grpc.ServerDuplexStream<DecodedRequest, Message>) =>
        void answerStream(spec, call, options, readRequests);
  }
}

// A unary method with an answer cache: a hit is sent as it is; a miss is decoded and answered as
// any unary call, and its answer is offered to the cache. A cache that fails is reported
// (onError) and the call is answered without it.
function reusingAnswers(spec: Spec<"unary">, answers: AnswerCache, options: GrpcAdapterOptions): grpc.UntypedHandleCall {
  const decode = requestDecoder(spec.method);
  return (call: grpc.ServerUnaryCall<Buffer, Message>, callback: grpc.sendUnaryData<Message>) => {
    let found: Buffer | object | undefined;
    try {
      found = answers.lookup(call, call.request);
    } catch (err) {
      options.onError?.(err, spec.method);
    }
    if (Buffer.isBuffer(found)) return callback(null, found as unknown as Message);
    const offer = found && { answers, miss: found };
    answerUnary(spec, call, decode(call.request), callback, options, offer);
  };
}

/** Where an answer computed after an answer cache's miss is offered. */
interface Offer {
  readonly answers: AnswerCache;
  readonly miss: object;
}

// Unary calls without interceptors, the path every verification takes: the implementation is
// called directly, with no async frame of the adapter's own around it.
function answerUnary(
  spec: Spec<"unary">,
  call: ServerSurfaceCall,
  request: DecodedRequest,
  callback: grpc.sendUnaryData<Message>,
  options: GrpcAdapterOptions,
  offer?: Offer,
): void {
  const ctx = new GrpcCallContext(spec.method, call, options.shutdownSignal, options.contextValues?.(call));
  let answer: ReturnType<typeof spec.impl>;
  try {
    answer = spec.impl(single(request), ctx);
  } catch (err) {
    return fail(call, callback, options, ctx, err);
  }
  if (!(answer instanceof Promise)) return succeed(call, callback, options, ctx, answer, undefined, undefined, offer);
  answer.then(
    (init) => succeed(call, callback, options, ctx, init, undefined, undefined, offer),
    (err: unknown) => fail(call, callback, options, ctx, err),
  );
}

// Unary calls behind interceptors, and client-streaming calls: one response message.
async function answerOnce<C extends ServerSurfaceCall>(
  spec: Spec<"unary"> | Spec<"client_streaming">,
  call: C,
  callback: grpc.sendUnaryData<Message>,
  options: GrpcAdapterOptions,
  input: (call: C) => Message | AsyncIterable<Message>,
): Promise<void> {
  const ctx = new GrpcCallContext(spec.method, call, options.shutdownSignal, options.contextValues?.(call));
  let message: Message;
  let res: Answer;
  try {
    res = await invoke(spec, ctx, input(call), options.interceptors);
    // Connect models a client stream's answer as a stream of one message.
    message = res.stream ? await first(res.message) : res.message;
  } catch (err) {
    return fail(call, callback, options, ctx, err);
  }
  succeed(call, callback, options, ctx, message, res.header, res.trailer);
}

/** Sends a unary answer through grpc-js's callback, with what headers and trailers were set. */
function succeed(
  call: ServerSurfaceCall,
  callback: grpc.sendUnaryData<Message>,
  options: GrpcAdapterOptions,
  ctx: GrpcCallContext,
  init: MessageInitShape<DescMessage>,
  header = ctx.responseHeaderIfUsed,
  trailer = ctx.responseTrailerIfUsed,
  offer?: Offer,
): void {
  let message: Message;
  try {
    message = create(ctx.method.output, init);
    // A kept answer is sent again without headers or trailers, so only answers without them are offered.
    if (offer && header === undefined && trailer === undefined) {
      const bytes = binaryCodec(ctx.method.output).encode(message);
      message = bytes as unknown as Message;
      try {
        offer.answers.offer(offer.miss, bytes, ctx);
      } catch (err) {
        options.onError?.(err, ctx.method);
      }
    }
  } catch (err) {
    return fail(call, callback, options, ctx, err);
  }
  sendHeader(call, header, ctx.method, options);
  callback(null, message, trailer && toMetadata(trailer, ctx.method, options));
  ctx.end();
}

/** Ends a unary call with the status `err` maps to. */
function fail(call: ServerSurfaceCall, callback: grpc.sendUnaryData<Message>, options: GrpcAdapterOptions, ctx: GrpcCallContext, err: unknown): void {
  sendHeader(call, ctx.responseHeaderIfUsed, ctx.method, options);
  callback(toStatus(err, ctx, ctx.method, options));
  ctx.end();
}

// Server-streaming and bidi calls: messages are written as the implementation yields them.
async function answerStream<C extends WritableCall>(
  spec: Spec<"server_streaming"> | Spec<"bidi_streaming">,
  call: C,
  options: GrpcAdapterOptions,
  input: (call: C) => Message | AsyncIterable<Message>,
): Promise<void> {
  const ctx = new GrpcCallContext(spec.method, call, options.shutdownSignal, options.contextValues?.(call));
  let headerSent = false;
  try {
    const res = await invoke(spec, ctx, input(call), options.interceptors);
    if (!res.stream) throw new ConnectError("protocol error: interceptor returned a single message", Code.Internal);
    for await (const message of res.message) {
      // Connect sends response headers with the first message; the implementation sets them before.
      if (!headerSent) {
        sendHeader(call, res.header ?? ctx.responseHeaderIfUsed, spec.method, options);
        headerSent = true;
      }
      await write(call, message, ctx.signal);
    }
    if (!headerSent) sendHeader(call, res.header ?? ctx.responseHeaderIfUsed, spec.method, options);
    const trailer = res.trailer ?? ctx.responseTrailerIfUsed;
    call.end(trailer && toMetadata(trailer, spec.method, options));
  } catch (err) {
    if (!headerSent) sendHeader(call, ctx.responseHeaderIfUsed, spec.method, options);
    // grpc-js's documented way to end a stream with a status: its "error" listener sends it.
    call.emit("error", toStatus(err, ctx, spec.method, options));
  } finally {
    ctx.end();
  }
}

/**
 * What the implementation answered. Headers and trailers come from interceptors; without them,
 * whatever the implementation set on the context is sent.
 */
type Answer = (
  | { readonly stream: false; readonly message: Message }
  | { readonly stream: true; readonly message: AsyncIterable<Message> }
) & { readonly header?: Headers; readonly trailer?: Headers };

// Runs the implementation, behind the interceptors when there are any, as connect-node does for
// every protocol. Without interceptors it is called directly, and nothing is built that it does
// not read.
async function invoke(
  spec: MethodImplSpec,
  ctx: GrpcCallContext,
  input: Message | AsyncIterable<Message>,
  interceptors: Interceptor[] = [],
): Promise<Answer> {
  if (interceptors.length === 0) {
    const message = await implement(spec, ctx, input);
    return isMessage(message) ? { stream: false, message } : { stream: true, message };
  }
  const { method } = spec;
  const common = { service: method.parent, header: ctx.responseHeader, trailer: ctx.responseTrailer };
  const innermost: AnyFn = async (req) => {
    const reqCtx: HandlerContext = {
      method: ctx.method,
      service: req.service,
      signal: req.signal,
      timeoutMs: () => ctx.timeoutMs(),
      requestMethod: ctx.requestMethod,
      requestHeader: req.header,
      responseHeader: ctx.responseHeader,
      responseTrailer: ctx.responseTrailer,
      protocolName: ctx.protocolName,
      values: req.contextValues,
      url: ctx.url,
    };
    // Interceptors see every kind but unary as a stream of requests, as on a ConnectRouter.
    const request = spec.kind === "server_streaming" && req.stream ? await first(req.message) : req.message;
    const message = await implement(spec, reqCtx, request);
    switch (spec.kind) {
      case "unary":
        if (isMessage(message)) return { ...common, stream: false, method: spec.method, message };
        break;
      case "client_streaming":
        if (isMessage(message)) return { ...common, stream: true, method: spec.method, message: once(message) };
        break;
      default:
        if (!isMessage(message)) return { ...common, stream: true, method: spec.method, message };
    }
    throw new ConnectError("protocol error: the implementation answered the wrong kind", Code.Internal);
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
  const messages = isMessage(input) ? once(input) : input;
  return next({ ...requestCommon, stream: true, method: spec.method, message: messages });
}

/** Calls the implementation: unary and client-streaming ones answer one message, the others a stream. */
async function implement(
  spec: MethodImplSpec,
  ctx: HandlerContext,
  input: Message | AsyncIterable<Message>,
): Promise<Message | AsyncIterable<Message>> {
  const output: DescMessage = spec.method.output;
  if (spec.kind === "unary" && isMessage(input)) return create(output, await spec.impl(input, ctx));
  if (spec.kind === "client_streaming" && !isMessage(input)) return create(output, await spec.impl(input, ctx));
  const toOutput = (init: MessageInitShape<DescMessage>) => create(output, init);
  if (spec.kind === "server_streaming" && isMessage(input)) return mapIterable(spec.impl(input, ctx), toOutput);
  if (spec.kind === "bidi_streaming" && !isMessage(input)) return mapIterable(spec.impl(input, ctx), toOutput);
  throw new ConnectError("protocol error: interceptor changed the request kind", Code.Internal);
}

const isMessage = (value: Message | AsyncIterable<Message>): value is Message => !(Symbol.asyncIterator in value);

// grpc-js sends its default headers with the first message when none were sent explicitly.
function sendHeader(call: ServerSurfaceCall, header: Headers | undefined, method: DescMethod, options: GrpcAdapterOptions): void {
  if (header === undefined) return;
  const metadata = toMetadata(header, method, options);
  if (Object.keys(metadata.toJSON()).length > 0) call.sendMetadata(metadata);
}

function single(request: DecodedRequest): Message {
  if ("error" in request) throw request.error;
  return request.message;
}

function singleRequest(call: { readonly request: DecodedRequest }): Message {
  return single(call.request);
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

