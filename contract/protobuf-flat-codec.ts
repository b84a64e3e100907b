// Binary serializers for flat messages, made once per message type from its descriptor. Under load,
// protobuf-es's reflective toBinary and fromBinary cost about as much as all of grpc-js's own work
// for a VerifyApiKey call (measured in one process: 20 µs of 70). A message whose fields are only
// strings, bools, enums and 32-bit integers (proto3, no presence, no oneof), or lists of strings, is
// encoded here in one sized buffer and decoded straight into a protobuf-es message. Anything else,
// and anything unexpected in the input (unknown fields, another wire type, a negative number, bytes
// that are not UTF-8, a truncation), goes to protobuf-es, so the results are always protobuf-es's.
// Part of the grpc-js adapter, so like it this must never import from server/.
import { create, fromBinary, ScalarType, toBinary } from "@bufbuild/protobuf";
import type { DescField, DescMessage, Message } from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import { isUtf8 } from "node:buffer";

export interface MessageCodec {
  /** True when this codec serializes the type itself; false when it hands every call to protobuf-es. */
  readonly flat: boolean;
  encode(message: Message): Buffer;
  decode(bytes: Uint8Array): Message;
}

type Kind = "string" | "bool" | "varint" | "strings";

interface Plan {
  readonly name: string;
  readonly kind: Kind;
  readonly tag: number;
}

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

/** The codec of `desc`: flat when every field allows it, protobuf-es otherwise. */
export function messageCodec(desc: DescMessage): MessageCodec {
  const generic: MessageCodec = {
    flat: false,
    encode: (message) => asBuffer(toBinary(desc, message)),
    decode: (bytes) => fromBinary(desc, bytes),
  };
  const plans = desc.fields.map(planOf);
  if (plans.some((p) => p === undefined) || plans.some((p) => p!.tag >= 128)) return generic;
  const fields = (plans as Plan[]).slice().sort((a, b) => a.tag - b.tag);
  const byTag = new Map(fields.map((p) => [p.tag, p]));

  return {
    flat: true,
    encode(message) {
      const values = message as unknown as Record<string, unknown>;
      if ((message as { $unknown?: unknown[] }).$unknown?.length) return generic.encode(message);
      let size = 0;
      for (const p of fields) {
        const value = values[p.name];
        switch (p.kind) {
          case "string":
            if (value !== "") size += 1 + lengthPrefixed(Buffer.byteLength(value as string));
            break;
          case "bool":
            if (value) size += 2;
            break;
          case "varint":
            if (!isSmallVarint(value)) return generic.encode(message);
            if (value !== 0) size += 1 + varintSize(value);
            break;
          case "strings":
            for (const item of value as string[]) size += 1 + lengthPrefixed(Buffer.byteLength(item));
        }
      }
      const out = Buffer.allocUnsafe(size);
      let at = 0;
      for (const p of fields) {
        const value = values[p.name];
        switch (p.kind) {
          case "string":
            if (value !== "") at = writeString(out, at, p.tag, value as string);
            break;
          case "bool":
            if (value) {
              out[at++] = p.tag;
              out[at++] = 1;
            }
            break;
          case "varint":
            if (value !== 0) {
              out[at++] = p.tag;
              at = writeVarint(out, at, value as number);
            }
            break;
          case "strings":
            for (const item of value as string[]) at = writeString(out, at, p.tag, item);
        }
      }
      return out;
    },

    decode(bytes) {
      const input = asBuffer(bytes);
      const message = create(desc) as unknown as Record<string, unknown>;
      let at = 0;
      while (at < input.length) {
        const tag = input[at++]!;
        const p = byTag.get(tag);
        if (p === undefined) return generic.decode(bytes);
        if (p.kind === "bool" || p.kind === "varint") {
          const [value, next] = readVarint(input, at);
          if (!isSmallVarint(value)) return generic.decode(bytes);
          message[p.name] = p.kind === "bool" ? value !== 0 : value;
          at = next;
          continue;
        }
        const [length, start] = readVarint(input, at);
        const end = start + length;
        if (length < 0 || end > input.length || !isUtf8(input.subarray(start, end))) return generic.decode(bytes);
        const text = input.toString("utf8", start, end);
        if (p.kind === "string") message[p.name] = text;
        else (message[p.name] as string[]).push(text);
        at = end;
      }
      return message as unknown as Message;
    },
  };
}

/** How `field` is handled here, with its one-byte tag; undefined when protobuf-es must do it. */
function planOf(field: DescField): Plan | undefined {
  const name = field.localName;
  if (field.fieldKind === "list") {
    return field.listKind === "scalar" && field.scalar === ScalarType.STRING ? { name, kind: "strings", tag: (field.number << 3) | WIRE_LEN } : undefined;
  }
  if (field.fieldKind !== "scalar" && field.fieldKind !== "enum") return undefined;
  if (field.oneof !== undefined || field.presence !== FeatureSet_FieldPresence.IMPLICIT) return undefined;
  if (field.fieldKind === "enum") return { name, kind: "varint", tag: (field.number << 3) | WIRE_VARINT };
  switch (field.scalar) {
    case ScalarType.STRING:
      return { name, kind: "string", tag: (field.number << 3) | WIRE_LEN };
    case ScalarType.BOOL:
      return { name, kind: "bool", tag: (field.number << 3) | WIRE_VARINT };
    case ScalarType.INT32:
    case ScalarType.UINT32:
      return { name, kind: "varint", tag: (field.number << 3) | WIRE_VARINT };
    default:
      return undefined;
  }
}

// Numbers from 0 to 2^31 - 1 read the same as int32, uint32 and enum; protobuf-es does the rest.
const isSmallVarint = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 0x7fffffff;

const varintSize = (value: number) => (value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5);
const lengthPrefixed = (length: number) => varintSize(length) + length;

function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[at++] = value;
  return at;
}

function writeString(out: Buffer, at: number, tag: number, text: string): number {
  out[at++] = tag;
  const length = Buffer.byteLength(text);
  at = writeVarint(out, at, length);
  return at + out.write(text, at, length, "utf8");
}

/**
 * A varint of at most 32 bits at `at`: its value and the offset after it. -1 for anything else
 * (longer, as a negative int32 is written, or cut short), which sends the input to protobuf-es.
 */
function readVarint(input: Buffer, at: number): [number, number] {
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (at >= input.length) return [-1, at];
    const byte = input[at++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return value <= 0xffffffff ? [value, at] : [-1, at];
  }
  return [-1, at];
}

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
