// The flat codec against protobuf-es, for every message of our API and of the provider's protocol:
// the same bytes out, the same messages in, and protobuf-es's answer for anything it leaves to it.
import { create, createRegistry, fromBinary, ScalarType, toBinary } from "@bufbuild/protobuf";
import type { DescField, DescMessage, Message } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { file_apikeys_v1_api_key_service, VerifyApiKeyRequestSchema, VerifyApiKeyResponseSchema, DeleteApiKeyRequestSchema } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { file_apikeys_v1_support_service } from "../contract/gen/apikeys/v1/support_service_pb.js";
import { messageCodec } from "../contract/protobuf-flat-codec.js";
import { file_grpc_health_v1_health } from "../provider/gen/grpc/health/v1/health_pb.js";
import { file_plugin_grpc_broker } from "../provider/gen/plugin/grpc_broker_pb.js";
import { file_plugin_grpc_controller } from "../provider/gen/plugin/grpc_controller_pb.js";
import { file_plugin_grpc_stdio } from "../provider/gen/plugin/grpc_stdio_pb.js";
import { file_tfplugin6_tfplugin6 } from "../provider/gen/tfplugin6/tfplugin6_pb.js";

const registry = createRegistry(
  file_apikeys_v1_api_key_service,
  file_apikeys_v1_support_service,
  file_grpc_health_v1_health,
  file_plugin_grpc_broker,
  file_plugin_grpc_controller,
  file_plugin_grpc_stdio,
  file_tfplugin6_tfplugin6,
);
const messages = [...registry].filter((t): t is DescMessage => t.kind === "message");
const flat = messages.filter((m) => messageCodec(m).flat);

// A fixed seed: a failure is reproducible.
let seed = 20261127;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
const STRINGS = ["", "a", "orders:read", "héllo ✓", "🔑 key", "lone \ud800", "x".repeat(200), "ak_2kX9aZ"];
const NUMBERS = [0, 1, 2, 127, 128, 300, 16_384, 2 ** 31 - 1];

function randomValue(field: DescField): unknown {
  if (field.fieldKind === "list") return Array.from({ length: Math.floor(random() * 4) }, () => pick(STRINGS));
  if (field.fieldKind === "enum") return pick(NUMBERS);
  if (field.fieldKind !== "scalar") throw new Error(`not flat: ${field.name}`);
  if (field.scalar === ScalarType.STRING) return pick(STRINGS);
  if (field.scalar === ScalarType.BOOL) return random() < 0.5;
  return pick(NUMBERS);
}

function randomMessage(desc: DescMessage): Message {
  const init: Record<string, unknown> = {};
  for (const field of desc.fields) if (random() < 0.8) init[field.localName] = randomValue(field);
  return create(desc, init);
}

/** protobuf-es's result for `bytes`, or the error it throws. */
function reference(desc: DescMessage, bytes: Uint8Array): unknown {
  try {
    return fromBinary(desc, bytes);
  } catch (err) {
    return { threw: (err as Error).message };
  }
}

function decoded(desc: DescMessage, bytes: Uint8Array): unknown {
  try {
    return messageCodec(desc).decode(bytes);
  } catch (err) {
    return { threw: (err as Error).message };
  }
}

describe("flat protobuf codec", () => {
  it("serves VerifyApiKey's messages itself, and leaves messages with other field kinds to protobuf-es", () => {
    expect(messageCodec(VerifyApiKeyRequestSchema).flat).toBe(true);
    expect(messageCodec(VerifyApiKeyResponseSchema).flat).toBe(true);
    expect(messageCodec(DeleteApiKeyRequestSchema).flat).toBe(false); // a Duration field
    expect(flat.length).toBeGreaterThan(10);
  });

  it.each(flat.map((m) => [m.typeName, m] as const))("%s: writes protobuf-es's bytes and reads them back as protobuf-es does", (_name, desc) => {
    const codec = messageCodec(desc);
    for (let i = 0; i < 200; i++) {
      const message = randomMessage(desc);
      const bytes = toBinary(desc, message);
      expect(codec.encode(message).equals(Buffer.from(bytes))).toBe(true);
      expect(codec.decode(bytes)).toEqual(fromBinary(desc, bytes));
    }
  });

  it.each(flat.map((m) => [m.typeName, m] as const))("%s: answers as protobuf-es for arbitrary bytes, unknown fields and numbers it does not take", (_name, desc) => {
    for (let i = 0; i < 300; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(random() * 24) }, () => Math.floor(random() * 256));
      expect(decoded(desc, bytes)).toEqual(reference(desc, bytes));
    }
    const known = toBinary(desc, randomMessage(desc));
    const withUnknown = Uint8Array.from([...known, 0xf8, 0x07, 0x2a]); // field 127, varint 42
    expect(decoded(desc, withUnknown)).toEqual(reference(desc, withUnknown));
    const message = fromBinary(desc, withUnknown);
    expect(messageCodec(desc).encode(message).equals(Buffer.from(toBinary(desc, message)))).toBe(true);
  });

  it.each(flat.map((m) => [m.typeName, m] as const))("%s: writes an init shape as protobuf-es writes the message create() makes of it", (_name, desc) => {
    const codec = messageCodec(desc);
    // Values of the wrong type go to protobuf-es, which then answers or throws as it does.
    const WRONG = [null, 7, "7", true, ["a", 1], {}, -1, 2 ** 32];
    const written = (encode: () => Uint8Array) => {
      try {
        return Buffer.from(encode()).toString("hex");
      } catch (err) {
        return { threw: (err as Error).message };
      }
    };
    for (let i = 0; i < 200; i++) {
      const init: Record<string, unknown> = {};
      for (const field of desc.fields) {
        const r = random();
        if (r < 0.6) init[field.localName] = randomValue(field);
        else if (r < 0.7) init[field.localName] = pick(WRONG);
      }
      expect(written(() => codec.encode(init))).toEqual(written(() => toBinary(desc, create(desc, init))));
    }
  });

  it("gives every decoded message lists of its own", () => {
    const codec = messageCodec(VerifyApiKeyRequestSchema);
    const first = codec.decode(new Uint8Array()) as unknown as { requiredScopes: string[] };
    first.requiredScopes.push("orders:read");
    expect((codec.decode(new Uint8Array()) as unknown as { requiredScopes: string[] }).requiredScopes).toEqual([]);
  });

  it("hands negative and out-of-range numbers to protobuf-es both ways", () => {
    const negative = create(VerifyApiKeyResponseSchema, { status: -1 as never, access: 2 ** 31 - 1 });
    const bytes = toBinary(VerifyApiKeyResponseSchema, negative);
    expect(messageCodec(VerifyApiKeyResponseSchema).encode(negative).equals(Buffer.from(bytes))).toBe(true);
    expect(messageCodec(VerifyApiKeyResponseSchema).decode(bytes)).toEqual(fromBinary(VerifyApiKeyResponseSchema, bytes));
    // status (field 2) as 2^32 - 1 in five bytes, and 2^31, which an int32 reads as negative.
    for (const wire of [[0x10, 0xff, 0xff, 0xff, 0xff, 0x0f], [0x10, 0x80, 0x80, 0x80, 0x80, 0x08]]) {
      const read = messageCodec(VerifyApiKeyResponseSchema).decode(Uint8Array.from(wire));
      expect(read).toEqual(fromBinary(VerifyApiKeyResponseSchema, Uint8Array.from(wire)));
      expect((read as unknown as { status: number }).status).toBeLessThan(0);
    }
  });
});
