// gRPC and gRPC-Web requests written byte by byte, for what no gRPC client will send: a malformed
// grpc-timeout, a frame whose compressed flag lies, two authorization headers. gRPC goes over h2c
// with node:http2: curl sometimes drops an answer sent before the whole request was read (as both
// grpc-js and connect-node send refusals) when the stream is then reset. node:http2 cannot send a
// header such as authorization twice, so such requests go with curl, as gRPC-Web (HTTP/1.1) does.
import { spawn } from "node:child_process";
import * as http2 from "node:http2";

export interface RawGrpcRequest {
  /** `http://host:port/package.Service/Method`. */
  readonly url: string;
  /** "application/grpc", "application/grpc+json", "application/grpc-web+proto", ... */
  readonly contentType: string;
  /** Request headers as "name: value" lines (repeats allowed). */
  readonly headers?: readonly string[];
  /** The message, put in one envelope with `flag` (0 plain, 1 compressed). */
  readonly message: Uint8Array;
  readonly flag?: number;
  /** The call fails after this long without an answer (an unanswered call fails instead of hanging). */
  readonly maxSeconds?: number;
}

export interface RawGrpcAnswer {
  /** The grpc-status, from the headers, the trailers or a gRPC-Web trailer frame; undefined if none came. */
  readonly code: number | undefined;
  /** The grpc-message, percent-decoded. */
  readonly message: string;
  /** What came back (headers, trailers, body), as latin1, for failure messages. */
  readonly raw: string;
}

/** Sends one enveloped message and reads the status. */
export function rawGrpc(req: RawGrpcRequest): Promise<RawGrpcAnswer> {
  const envelope = Buffer.alloc(5 + req.message.byteLength);
  envelope[0] = req.flag ?? 0;
  envelope.writeUInt32BE(req.message.byteLength, 1);
  envelope.set(req.message, 5);
  const names = (req.headers ?? []).map((line) => line.slice(0, line.indexOf(":")).trim().toLowerCase());
  const repeats = new Set(names).size < names.length;
  return req.contentType.startsWith("application/grpc-web") || repeats ? overCurl(req, envelope) : overH2c(req, envelope);
}

function answerOf(raw: string): RawGrpcAnswer {
  const code = /grpc-status: ?(\d+)/i.exec(raw)?.[1];
  const message = /grpc-message: ?([^\r\n]*)/i.exec(raw)?.[1] ?? "";
  return { code: code === undefined ? undefined : Number(code), message: decodeURIComponent(message), raw };
}

function overH2c(req: RawGrpcRequest, envelope: Buffer): Promise<RawGrpcAnswer> {
  const url = new URL(req.url);
  return new Promise((resolve, reject) => {
    const session = http2.connect(url.origin);
    const lines: string[] = [];
    const body: Buffer[] = [];
    const timer = setTimeout(() => finish(new Error(`no answer in ${req.maxSeconds ?? 60} s`)), (req.maxSeconds ?? 60) * 1000);
    const finish = (err?: Error) => {
      clearTimeout(timer);
      session.destroy();
      const raw = [...lines, Buffer.concat(body).toString("latin1")].join("\r\n");
      const answer = answerOf(raw);
      // A stream reset after the whole answer (RFC 9113, section 8.1) still carries the answer.
      if (err && answer.code === undefined) reject(Object.assign(err, { message: `${err.message}\n${raw}` }));
      else resolve(answer);
    };
    session.on("error", (err) => finish(err));
    const raw: string[] = [":method", "POST", ":path", url.pathname, ":scheme", "http", ":authority", url.host, "content-type", req.contentType, "te", "trailers"];
    for (const line of req.headers ?? []) raw.push(line.slice(0, line.indexOf(":")).trim().toLowerCase(), line.slice(line.indexOf(":") + 1).trim());
    const stream = session.request(toHeaderObject(raw), { endStream: false });
    const record = (headers: http2.IncomingHttpHeaders) => {
      for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${String(value)}`);
    };
    stream.on("response", record);
    stream.on("trailers", record);
    stream.on("data", (chunk: Buffer) => body.push(chunk));
    stream.on("close", () => finish());
    stream.on("error", (err) => finish(err));
    stream.end(envelope);
  });
}

function toHeaderObject(raw: string[]): http2.OutgoingHttpHeaders {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) headers[raw[i]!] = raw[i + 1]!;
  return headers;
}

function overCurl(req: RawGrpcRequest, envelope: Buffer): Promise<RawGrpcAnswer> {
  const args = ["-sS", "-m", String(req.maxSeconds ?? 60), "-D", "-", "--data-binary", "@-", "-H", `content-type: ${req.contentType}`];
  if (!req.contentType.startsWith("application/grpc-web")) args.push("--http2-prior-knowledge", "-H", "te: trailers");
  for (const header of req.headers ?? []) args.push("-H", header);
  args.push(req.url);
  return new Promise((resolve, reject) => {
    const curl = spawn("curl", args);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    curl.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    curl.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    curl.on("error", reject);
    curl.on("close", (exit) => {
      const raw = Buffer.concat(out).toString("latin1");
      if (exit !== 0) return reject(new Error(`curl exited with ${exit}: ${Buffer.concat(err).toString()}\n${raw}`));
      resolve(answerOf(raw));
    });
    curl.stdin.end(envelope);
  });
}
