// gRPC and gRPC-Web requests sent byte by byte with curl, for what no gRPC client will send: a
// malformed grpc-timeout, a frame whose compressed flag lies, two authorization headers.
import { spawn } from "node:child_process";

export interface GrpcCurlRequest {
  /** `http://host:port/package.Service/Method`. */
  readonly url: string;
  /** "application/grpc", "application/grpc+json", "application/grpc-web+proto", ... */
  readonly contentType: string;
  /** Request headers as "name: value" lines (repeats allowed). */
  readonly headers?: readonly string[];
  /** The message, put in one envelope with `flag` (0 plain, 1 compressed). */
  readonly message: Uint8Array;
  readonly flag?: number;
  /** curl gives up after this long (a call never answered fails the test instead of hanging it). */
  readonly maxSeconds?: number;
}

export interface GrpcCurlAnswer {
  /** The grpc-status, from the headers, the trailers or a gRPC-Web trailer frame; undefined if none came. */
  readonly code: number | undefined;
  /** The grpc-message, percent-decoded. */
  readonly message: string;
  /** Everything curl printed (headers and body), as latin1. */
  readonly raw: string;
}

/** Sends one enveloped message; gRPC (not gRPC-Web) goes over h2c. Fails if curl gives up. */
export function grpcCurl(req: GrpcCurlRequest): Promise<GrpcCurlAnswer> {
  const envelope = Buffer.alloc(5 + req.message.byteLength);
  envelope[0] = req.flag ?? 0;
  envelope.writeUInt32BE(req.message.byteLength, 1);
  envelope.set(req.message, 5);
  const web = req.contentType.startsWith("application/grpc-web");
  const args = ["-sS", "-m", String(req.maxSeconds ?? 60), "-D", "-", "--data-binary", "@-", "-H", `content-type: ${req.contentType}`];
  if (!web) args.push("--http2-prior-knowledge", "-H", "te: trailers");
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
      const code = /grpc-status: ?(\d+)/i.exec(raw)?.[1];
      const message = /grpc-message: ?([^\r\n]*)/i.exec(raw)?.[1] ?? "";
      resolve({ code: code === undefined ? undefined : Number(code), message: decodeURIComponent(message), raw });
    });
    curl.stdin.end(envelope);
  });
}
