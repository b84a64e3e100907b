// The subset of MessagePack (https://github.com/msgpack/msgpack/blob/master/spec.md) that cty's
// msgpack encoding uses, written here rather than taken as a dependency: Terraform's values need
// only these few types, and owning the decoder lets it be strict about malformed input.

/** An extension value. cty uses them only for unknown values (see values.ts). */
export class Ext {
  constructor(
    readonly type: number,
    readonly data: Uint8Array,
  ) {}
}

/**
 * A decoded MessagePack value. Integers and floats both become numbers (cty does not care which
 * encoding a number arrived in); bin becomes a Uint8Array; maps keep their order.
 */
export type Msg = null | boolean | number | string | Uint8Array | Ext | readonly Msg[] | ReadonlyMap<Msg, Msg>;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
// Hostile input could nest arrays one byte per level; fail with a message, not a stack overflow.
const MAX_DEPTH = 500;

/** Encodes a value. Safe integers use the smallest int encoding, as cty's encoder does. */
export function encode(value: Msg): Uint8Array {
  // One scratch buffer for every call (encoding is synchronous); only the result is copied out.
  writer.pos = 0;
  writer.value(value);
  const out = writer.buf.slice(0, writer.pos);
  if (writer.buf.length > 1 << 20) writer.reset(); // do not hold on to the memory of one huge value
  return out;
}

/** Decodes exactly one value; anything malformed, truncated or trailing is an error. */
export function decode(bytes: Uint8Array): Msg {
  const r = new Reader(bytes);
  const value = r.value(0);
  if (r.pos !== bytes.length) throw new Error(`msgpack: ${bytes.length - r.pos} unexpected bytes after the value`);
  return value;
}

class Writer {
  buf = new Uint8Array(256);
  view = new DataView(this.buf.buffer);
  pos = 0;

  reset(): void {
    this.buf = new Uint8Array(256);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** A type byte, then n big-endian in `size` bytes (DataView's setters wrap negatives for us). */
  private head(code: number, size: 0 | 1 | 2 | 4 | 8 = 0, n = 0): void {
    this.ensure(1 + size);
    const at = this.pos + 1;
    this.buf[this.pos] = code;
    if (size === 1) this.view.setUint8(at, n);
    else if (size === 2) this.view.setUint16(at, n);
    else if (size === 4) this.view.setUint32(at, n);
    else if (size === 8) this.view.setBigInt64(at, BigInt(n));
    this.pos = at + size;
  }

  /** The header of a str, array, map or bin: the fix form up to fixMax, then 8 (if any), 16, 32 bits. */
  private length(n: number, fix: number, fixMax: number, c8: number | null, c16: number): void {
    if (n <= fixMax) this.head(fix | n);
    else if (c8 !== null && n <= 0xff) this.head(c8, 1, n);
    else if (n <= 0xffff) this.head(c16, 2, n);
    else this.head(c16 + 1, 4, n);
  }

  private raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  value(v: Msg): void {
    if (v === null) this.head(0xc0);
    else if (typeof v === "boolean") this.head(v ? 0xc3 : 0xc2);
    else if (typeof v === "number") this.number(v);
    else if (typeof v === "string") this.str(v); else if (v instanceof Uint8Array) {
      this.length(v.length, 0, -1, 0xc4, 0xc5);
      this.raw(v);
    } else if (v instanceof Ext) {
      const n = v.data.length;
      const fix = n === 1 ? 0xd4 : n === 2 ? 0xd5 : n === 4 ? 0xd6 : n === 8 ? 0xd7 : n === 16 ? 0xd8 : 0;
      if (fix) this.head(fix);
      else this.length(n, 0, -1, 0xc7, 0xc8);
      this.head(v.type & 0xff);
      this.raw(v.data);
    } else if (Array.isArray(v)) {
      const items: readonly Msg[] = v;
      this.length(items.length, 0x90, 15, null, 0xdc);
      for (const item of items) this.value(item);
    } else if (v instanceof Map) {
      this.length(v.size, 0x80, 15, null, 0xde);
      for (const [key, item] of v as ReadonlyMap<Msg, Msg>) {
        this.value(key);
        this.value(item);
      }
    } else throw new Error(`msgpack: cannot encode ${Object.prototype.toString.call(v)}`);
  }

  private str(v: string): void {
    // Names and most values are short ASCII: copying char codes beats a TextEncoder call per string.
    if (v.length < 64 && /^[\x00-\x7f]*$/.test(v)) {
      this.length(v.length, 0xa0, 31, 0xd9, 0xda);
      this.ensure(v.length);
      for (let i = 0; i < v.length; i++) this.buf[this.pos++] = v.charCodeAt(i);
      return;
    }
    // Measuring first lets the header be written once, then the text encoded in place.
    const n = Buffer.byteLength(v, "utf8");
    this.length(n, 0xa0, 31, 0xd9, 0xda);
    this.ensure(n);
    utf8.encodeInto(v, this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
  }

  private number(n: number): void {
    // Integers beyond 2^53 are not exact as JS integers anyway; float64 carries them unchanged.
    if (!Number.isSafeInteger(n)) {
      this.ensure(9);
      this.buf[this.pos] = 0xcb;
      this.view.setFloat64(this.pos + 1, n);
      this.pos += 9;
    } else if (n >= 0) {
      if (n <= 0x7f) this.head(n);
      else if (n <= 0xff) this.head(0xcc, 1, n);
      else if (n <= 0xffff) this.head(0xcd, 2, n);
      else if (n <= 0xffffffff) this.head(0xce, 4, n);
      else this.head(0xcf, 8, n);
    } else if (n >= -32) this.head(n & 0xff);
    else if (n >= -0x80) this.head(0xd0, 1, n);
    else if (n >= -0x8000) this.head(0xd1, 2, n);
    else if (n >= -0x80000000) this.head(0xd2, 4, n);
    else this.head(0xd3, 8, n);
  }
}

const writer = new Writer();

class Reader {
  pos = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Claims n bytes, returning where they start; the single place truncation is detected. */
  private take(n: number, what: string): number {
    const at = this.pos;
    if (at + n > this.bytes.length) {
      throw new Error(`msgpack: truncated input: ${what} at offset ${at} needs ${n} bytes, ${this.bytes.length - at} left`);
    }
    this.pos = at + n;
    return at;
  }

  private uint(size: number, what: string): number {
    const at = this.take(size, what);
    return size === 1 ? this.view.getUint8(at) : size === 2 ? this.view.getUint16(at) : this.view.getUint32(at);
  }

  private int64(signed: boolean): number {
    const at = this.take(8, signed ? "int64" : "uint64");
    const n = signed ? this.view.getBigInt64(at) : this.view.getBigUint64(at);
    if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new Error(`msgpack: integer ${n} at offset ${at - 1} is outside the safe range ±(2^53-1)`);
    }
    return Number(n);
  }

  private str(n: number): string {
    const at = this.take(n, "string");
    // Attribute names and most values are short ASCII; skipping TextDecoder for them is much faster.
    let s = "";
    for (let i = at; n < 32 && i < at + n; i++) {
      const c = this.bytes[i]!;
      if (c > 0x7f) break;
      s += String.fromCharCode(c);
    }
    if (s.length === n) return s;
    try {
      return strictUtf8.decode(this.bytes.subarray(at, at + n));
    } catch {
      throw new Error(`msgpack: string at offset ${at} is not valid UTF-8`);
    }
  }

  private ext(n: number): Ext {
    const at = this.take(1 + n, "ext");
    return new Ext(this.view.getInt8(at), this.bytes.slice(at + 1, at + 1 + n));
  }

  private array(n: number, depth: number): Msg[] {
    // Every element takes at least one byte: refuse a count the input cannot hold before allocating.
    if (n > this.bytes.length - this.pos) throw new Error(`msgpack: truncated input: array of ${n} at offset ${this.pos}`);
    const out = new Array<Msg>(n);
    for (let i = 0; i < n; i++) out[i] = this.value(depth);
    return out;
  }

  private map(n: number, depth: number): Map<Msg, Msg> {
    if (2 * n > this.bytes.length - this.pos) throw new Error(`msgpack: truncated input: map of ${n} at offset ${this.pos}`);
    const out = new Map<Msg, Msg>();
    for (let i = 0; i < n; i++) {
      const at = this.pos;
      const key = this.value(depth);
      if (out.has(key)) throw new Error(`msgpack: duplicate map key ${JSON.stringify(key)} at offset ${at}`);
      out.set(key, this.value(depth));
    }
    return out;
  }

  value(depth: number): Msg {
    if (depth > MAX_DEPTH) throw new Error(`msgpack: nesting deeper than ${MAX_DEPTH} at offset ${this.pos}`);
    const at = this.take(1, "type byte");
    const b = this.bytes[at]!;
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if (b <= 0x8f) return this.map(b & 0x0f, depth + 1);
    if (b <= 0x9f) return this.array(b & 0x0f, depth + 1);
    if (b <= 0xbf) return this.str(b & 0x1f);
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: case 0xc5: case 0xc6: {
        const start = this.take(this.uint(1 << (b - 0xc4), "bin length"), "bin");
        return this.bytes.slice(start, this.pos);
      }
      case 0xc7: case 0xc8: case 0xc9: return this.ext(this.uint(1 << (b - 0xc7), "ext length"));
      case 0xca: return this.view.getFloat32(this.take(4, "float32"));
      case 0xcb: return this.view.getFloat64(this.take(8, "float64"));
      case 0xcc: case 0xcd: case 0xce: return this.uint(1 << (b - 0xcc), "uint");
      case 0xcf: case 0xd3: return this.int64(b === 0xd3);
      case 0xd0: return this.view.getInt8(this.take(1, "int8"));
      case 0xd1: return this.view.getInt16(this.take(2, "int16"));
      case 0xd2: return this.view.getInt32(this.take(4, "int32"));
      case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return this.ext(1 << (b - 0xd4));
      case 0xd9: case 0xda: case 0xdb: return this.str(this.uint(1 << (b - 0xd9), "str length"));
      case 0xdc: case 0xdd: return this.array(this.uint(2 << (b - 0xdc), "array length"), depth + 1);
      case 0xde: case 0xdf: return this.map(this.uint(2 << (b - 0xde), "map length"), depth + 1);
      default: throw new Error(`msgpack: invalid type byte 0x${b.toString(16)} at offset ${at}`);
    }
  }
}
