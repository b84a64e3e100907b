// Requests as h2load sends them (a fixed body file and headers), the same request replayed once
// with node:http2 to learn the exact answer and its size, and the real clients that check answers.
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { connect as http2Connect, constants } from "node:http2";
import { ApiKeyService } from "../contract/gen/apikeys/v1/api_key_service_pb.js";

/** A gRPC length-prefixed message: flag 0 (not compressed), 4-byte big-endian length, bytes. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

export interface RawAnswer {
  readonly status: number;
  /** grpc-status from the trailers (or from the headers of a trailers-only answer). */
  readonly grpcStatus: string | undefined;
  readonly grpcMessage: string | undefined;
  readonly body: Buffer;
}

/** Sends exactly what h2load will send (POST, `headers`, `body`) over h2c, once. */
export function replay(url: string, body: Buffer, headers: Readonly<Record<string, string>>): Promise<RawAnswer> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const session = http2Connect(target.origin);
    session.once("error", reject);
    const req = session.request({ [constants.HTTP2_HEADER_METHOD]: "POST", [constants.HTTP2_HEADER_PATH]: target.pathname, ...headers });
    const chunks: Buffer[] = [];
    let status = 0;
    let grpcStatus: string | undefined;
    let grpcMessage: string | undefined;
    req.on("response", (h) => {
      status = Number(h[constants.HTTP2_HEADER_STATUS]);
      grpcStatus = h["grpc-status"] as string | undefined;
      grpcMessage = h["grpc-message"] as string | undefined;
    });
    req.on("trailers", (t) => {
      grpcStatus = (t["grpc-status"] as string | undefined) ?? grpcStatus;
      grpcMessage = (t["grpc-message"] as string | undefined) ?? grpcMessage;
    });
    req.on("data", (d: Buffer) => chunks.push(d));
    req.once("error", (e) => (session.close(), reject(e)));
    req.once("end", () => {
      session.close();
      resolve({ status, grpcStatus, grpcMessage: grpcMessage && decodeURIComponent(grpcMessage), body: Buffer.concat(chunks) });
    });
    req.end(body);
  });
}

/** connect-node's gRPC transport on the gRPC port. */
export function grpcClient(port: number): Client<typeof ApiKeyService> {
  return createClient(ApiKeyService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
}

/** connect-node's Connect protocol (JSON) over h2c on the HTTP port. */
export function connectJsonClient(port: number): Client<typeof ApiKeyService> {
  return createClient(ApiKeyService, createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "2", useBinaryFormat: false }));
}

/** grpc.health.v1.Health/Check for the whole server, with grpc-js: the serving status number (1 = SERVING). */
export function healthCheck(port: number): Promise<number> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise<number>((resolve, reject) =>
    client.makeUnaryRequest(
      "/grpc.health.v1.Health/Check",
      () => Buffer.alloc(0), // HealthCheckRequest{service: ""}
      (b: Buffer) => b,
      {},
      (error, response) => {
        client.close();
        if (error || !response) return reject(error ?? new Error("no answer"));
        // HealthCheckResponse{status = 1}: field 1, varint; an absent field is 0 (UNKNOWN).
        resolve(response.length === 0 ? 0 : response[0] === 0x08 ? response[1]! : -1);
      },
    ),
  );
}
