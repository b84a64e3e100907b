// Binary serializers for flat messages, made once per message type from its descriptor. Under load,
// protobuf-es's reflective toBinary and fromBinary cost about as much as all of grpc-js's own work
// for a VerifyApiKey call (measured in one process: 20 µs of 70). A message whose fields are only
// strings, bools, enums and 32-bit integers (proto3, no presence, no oneof), or lists of strings, is
// encoded here in one sized buffer and decoded straight into a protobuf-es message. Anything else,
// and anything unexpected in the input (unknown fields, another wire type, a negative number, bytes
// that are not UTF-8, a truncation), goes to protobuf-es, so the results are always protobuf-es's.
// Part of the grpc-js adapter, so like it this must never import from server/.
import { create, fromBinary, ScalarType, toBinary } from "@bufbuild/protobuf";
import type { DescField, DescMessage, Message, MessageInitShape } from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import { isUtf8 } from "node:buffer";

export interface MessageCodec {
  /** True when this codec serializes the type itself; false when it hands every call to protobuf-es. */
  readonly flat: boolean;
  /**
   * The message's bytes. A flat codec also takes the message's init shape (what `create` takes),
   * so that an answer need not become a message first: a missing field is its zero value.
   */
  encode(message: Message | MessageInitShape<DescMessage>): Buffer;
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

const codecs = new WeakMap<DescMessage, MessageCodec>();

/** The codec of `desc` (made once per type): flat when every field allows it, protobuf-es otherwise. */
export function messageCodec(desc: DescMessage): MessageCodec {
  let codec = codecs.get(desc);
  if (!codec) codecs.set(desc, (codec = makeCodec(desc)));
  return codec;
}

function makeCodec(desc: DescMessage): MessageCodec {
  const generic: MessageCodec = {
    flat: false,
    // create() hands back a message of this type as it is.
    encode: (message) => asBuffer(toBinary(desc, create(desc, message))),
    decode: (bytes) => fromBinary(desc, asUint8Array(bytes)),
  };
  const plans = desc.fields.map(planOf);
  if (plans.some((p) => p === undefined) || plans.some((p) => p!.tag >= 128)) return generic;
  // The zero message as protobuf-es makes it, copied per decode: create() looks at every field's
  // descriptor each time. Only plain objects qualify (proto2 defaults live on a prototype).
  const zero = create(desc) as unknown as Record<string, unknown>;
  if (Object.getPrototypeOf(zero) !== Object.prototype) return generic;
  const fields = (plans as Plan[]).slice().sort((a, b) => a.tag - b.tag);
  const byTag = new Map(fields.map((p) => [p.tag, p]));
  const lists = fields.filter((p) => p.kind === "strings").map((p) => p.name);
  // Scratch for encode: each field's value, read once.
  const read: unknown[] = new Array(fields.length);
  const zeroMessage = () => {
    const message = { ...zero };
    for (let i = 0; i < lists.length; i++) message[lists[i]!] = [];
    return message;
  };

  // The message's bytes, or undefined when a value is one protobuf-es must handle.
  const flatBytes = (message: Message | MessageInitShape<DescMessage>): Buffer | undefined => {
    const values = message as unknown as Record<string, unknown>;
    if ((message as { $unknown?: unknown[] }).$unknown?.length) return undefined;
    // The strings' UTF-8 lengths, in the order they are written, measured once.
    measured = 0;
    let size = 0;
    for (let f = 0; f < fields.length; f++) {
      const p = fields[f]!;
      const value = (read[f] = values[p.name]);
      if (value === undefined) continue;
      switch (p.kind) {
        case "string":
          if (typeof value !== "string") return undefined;
          if (value !== "") size += 1 + lengthPrefixed(measure(value));
          break;
        case "bool":
          if (typeof value !== "boolean") return undefined;
          if (value) size += 2;
          break;
        case "varint":
          if (!isSmallVarint(value)) return undefined;
          if (value !== 0) size += 1 + varintSize(value);
          break;
        case "strings":
          if (!Array.isArray(value)) return undefined;
          // Indexed loops, here and below: for-of left an iterator and its results behind per list,
          // about 440 B of garbage per VerifyApiKey answer, which TurboFan did not optimize away.
          for (let i = 0; i < value.length; i++) {
            const item: unknown = value[i];
            if (typeof item !== "string") return undefined;
            size += 1 + lengthPrefixed(measure(item));
          }
      }
    }
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    let k = 0;
    for (let f = 0; f < fields.length; f++) {
      const p = fields[f]!;
      const value = read[f];
      if (value === undefined) continue;
      switch (p.kind) {
        case "string":
          if (value !== "") at = writeString(out, at, p.tag, value as string, lengths[k++]!);
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
        case "strings": {
          const items = value as string[];
          for (let i = 0; i < items.length; i++) at = writeString(out, at, p.tag, items[i]!, lengths[k++]!);
        }
      }
    }
    return out;
  };

  return {
    flat: true,
    encode(message) {
      try {
        return flatBytes(message) ?? generic.encode(message);
      } finally {
        read.fill(undefined); // a request's token must not stay reachable from here
      }
    },

    decode(bytes) {
      const input = Buffer.isBuffer(bytes) ? bytes : asBuffer(bytes);
      const message = zeroMessage();
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
        if (length < 0 || end > input.length) return generic.decode(bytes);
        const text = readText(input, start, end);
        if (text === undefined) return generic.decode(bytes);
        if (p.kind === "string") message[p.name] = text;
        else {
          // A list's first item makes an array of one: pushing onto the empty one would reserve 17.
          const list = message[p.name] as string[];
          if (list.length === 0) message[p.name] = [text];
          else list.push(text);
        }
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

// Scratch for encode's string lengths: encodes never interleave (no await), so one array serves all.
const lengths: number[] = [];
let measured = 0;

/** `text`'s length in UTF-8, noted in `lengths`. Tokens and names are ASCII: counted without a native call. */
function measure(text: string): number {
  let ascii = true;
  for (let i = 0; i < text.length && ascii; i++) ascii = text.charCodeAt(i) < 0x80;
  const length = ascii ? text.length : Buffer.byteLength(text);
  lengths[measured++] = length;
  return length;
}

function writeString(out: Buffer, at: number, tag: number, text: string, length: number): number {
  out[at++] = tag;
  at = writeVarint(out, at, length);
  if (length !== text.length) return at + out.write(text, at, length, "utf8");
  // As many bytes as characters: ASCII, copied directly (cheaper than Buffer.write for short text).
  for (let i = 0; i < length; i++) out[at + i] = text.charCodeAt(i);
  return at + length;
}

/** The UTF-8 text between `start` and `end`, or undefined when it is not valid UTF-8. */
function readText(input: Buffer, start: number, end: number): string | undefined {
  // Tokens and scope names are ASCII, whose bytes read the same as Latin-1: checked byte by byte,
  // that costs less than a UTF-8 validation and decoding.
  let ascii = true;
  for (let i = start; i < end && ascii; i++) ascii = input[i]! < 0x80;
  if (ascii) return input.toString("latin1", start, end);
  return isUtf8(input.subarray(start, end)) ? input.toString("utf8", start, end) : undefined;
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
// protobuf-es keeps subarrays of its input for bytes fields: it gets a plain Uint8Array, as from
// connect-node, so that implementations see the same types on both listeners.
const asUint8Array = (bytes: Uint8Array) => (Buffer.isBuffer(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes);
