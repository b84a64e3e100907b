// Heap figures of another node process through its inspector (started with --inspect): force a
// full GC, then read the heap's used size, so that memory per cached entry is not lost in the noise
// of garbage not yet collected. Node 20 has no WebSocket client without a flag, so this speaks the
// few bits of RFC 6455 the DevTools protocol needs (text frames, client frames masked).
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";

export interface Inspector {
  /** Runs a full garbage collection, then returns the V8 heap's used bytes. */
  heapUsedAfterGc(): Promise<number>;
  close(): void;
}

/** Connects to the inspector listening on 127.0.0.1:`port`. */
export async function connectInspector(port: number): Promise<Inspector> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
  const url = new URL(targets[0]!.webSocketDebuggerUrl);
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect(Number(url.port), url.hostname, () => resolve(s));
    s.once("error", reject);
  });
  const key = randomBytes(16).toString("base64");
  socket.write(
    `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );

  let buffer = Buffer.alloc(0);
  let upgraded = false;
  const pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
  let ready!: () => void;
  let refused!: (e: Error) => void;
  const upgradedPromise = new Promise<void>((resolve, reject) => ((ready = resolve), (refused = reject)));
  socket.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    if (!upgraded) {
      const end = buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = buffer.subarray(0, end).toString("latin1");
      if (!head.startsWith("HTTP/1.1 101")) {
        socket.destroy();
        return refused(new Error(`the inspector refused the WebSocket upgrade: ${head}`));
      }
      buffer = buffer.subarray(end + 4);
      upgraded = true;
      ready();
    }
    for (;;) {
      if (buffer.length < 2) return;
      let length = buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (buffer.length < offset + length) return;
      const opcode = buffer[0]! & 0x0f;
      const payload = buffer.subarray(offset, offset + length);
      buffer = buffer.subarray(offset + length);
      if (opcode !== 1) continue; // only text frames carry protocol messages
      const message = JSON.parse(payload.toString("utf8")) as { id?: number; result?: unknown; error?: { message: string } };
      const waiter = message.id === undefined ? undefined : pending.get(message.id);
      if (!waiter) continue;
      pending.delete(message.id!);
      if (message.error) waiter.reject(new Error(message.error.message));
      else waiter.resolve(message.result);
    }
  });
  await upgradedPromise;

  let nextId = 1;
  const send = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      const payload = Buffer.from(JSON.stringify({ id, method, params }));
      const mask = randomBytes(4);
      const header =
        payload.length < 126
          ? Buffer.from([0x81, 0x80 | payload.length])
          : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
      const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
      socket.write(Buffer.concat([header, mask, masked]));
    });

  return {
    heapUsedAfterGc: async () => {
      await send("HeapProfiler.collectGarbage");
      const usage = (await send("Runtime.getHeapUsage")) as { usedSize: number };
      return usage.usedSize;
    },
    close: () => socket.destroy(),
  };
}
