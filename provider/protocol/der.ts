// Minimal ASN.1 DER encoding: just what an X.509 v3 certificate needs (certificate.ts). Every
// function returns one complete TLV (tag, length, value) as a Buffer, so a structure is written
// the way the ASN.1 module reads: sequence(integer(...), oid(...), ...). Encoding only; parsing
// is left to node:crypto's X509Certificate.

/** Universal tags (X.680 §8.4) used below. Tags above 30 would need the multi-byte form. */
const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30, // 0x10 with the "constructed" bit (0x20)
  set: 0x31, // 0x11 with the "constructed" bit
} as const;

const CONSTRUCTED = 0x20;
const CONTEXT_SPECIFIC = 0x80;

/** Length octets: short form below 128, otherwise 0x80 | count followed by big-endian bytes. */
function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One TLV with a single-octet tag. */
export function tlv(tag: number, value: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(value.length), value]);
}

/** SEQUENCE of already-encoded elements, in order. */
export function sequence(...elements: Buffer[]): Buffer {
  return tlv(TAG.sequence, Buffer.concat(elements));
}

/**
 * SET of already-encoded elements. DER sorts SET OF members by their encoding; every set in a
 * certificate name here has one member, but sorting keeps the helper correct in general.
 */
export function set(...elements: Buffer[]): Buffer {
  return tlv(TAG.set, Buffer.concat([...elements].sort(Buffer.compare)));
}

export function boolean(value: boolean): Buffer {
  return tlv(TAG.boolean, Buffer.from([value ? 0xff : 0x00]));
}

/**
 * Non-negative INTEGER from its big-endian magnitude. DER wants the minimal two's-complement
 * form: drop leading zero octets, then put one back if the top bit is set (else it reads negative).
 */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  let bytes = Buffer.from(magnitude.subarray(start));
  if (bytes.length === 0) bytes = Buffer.from([0]);
  if ((bytes[0] ?? 0) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(TAG.integer, bytes);
}

/** Small non-negative INTEGER (versions, counts). */
export function smallInteger(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`bad integer ${value}`);
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return unsignedInteger(Uint8Array.from(bytes));
}

/**
 * OBJECT IDENTIFIER from dotted form. The first two arcs share one value (40·a + b); every value
 * is base-128, most significant group first, with the high bit set on all but the last octet.
 */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map((arc) => {
    if (!/^\d+$/.test(arc)) throw new Error(`bad OID ${dotted}`);
    return Number(arc);
  });
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined) throw new Error(`bad OID ${dotted}`);
  const out: number[] = [];
  for (const value of [first * 40 + second, ...rest]) {
    const groups = [value & 0x7f];
    for (let v = Math.floor(value / 128); v > 0; v = Math.floor(v / 128)) {
      groups.unshift((v & 0x7f) | 0x80);
    }
    out.push(...groups);
  }
  return tlv(TAG.oid, Uint8Array.from(out));
}

export function utf8String(text: string): Buffer {
  return tlv(TAG.utf8String, Buffer.from(text, "utf8"));
}

/** PrintableString: letters, digits, space and ' ( ) + , - . / : = ? only. */
export function printableString(text: string): Buffer {
  if (!/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(text)) throw new Error(`not printable: ${text}`);
  return tlv(TAG.printableString, Buffer.from(text, "ascii"));
}

export function ia5String(text: string): Buffer {
  if (!/^[\x00-\x7f]*$/.test(text)) throw new Error(`not IA5: ${text}`);
  return tlv(TAG.ia5String, Buffer.from(text, "ascii"));
}

/** BIT STRING: the first content octet counts the unused bits at the end of the last octet. */
export function bitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  if (unusedBits < 0 || unusedBits > 7 || (bytes.length === 0 && unusedBits !== 0)) {
    throw new RangeError(`bad unused bit count ${unusedBits}`);
  }
  return tlv(TAG.bitString, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

/**
 * Named-bit BIT STRING (like KeyUsage) from the numbers of the set bits, bit 0 being the most
 * significant bit of the first octet. DER drops trailing zero bits, so the length stops at the
 * highest set bit.
 */
export function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return bitString(new Uint8Array(0));
  const highest = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  return bitString(bytes, 7 - (highest & 7));
}

export function octetString(bytes: Uint8Array): Buffer {
  return tlv(TAG.octetString, bytes);
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** UTCTime YYMMDDHHMMSSZ (seconds always present, always UTC), for years 1950–2049. */
export function utcTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 2049) throw new RangeError(`UTCTime cannot hold year ${year}`);
  return tlv(TAG.utcTime, Buffer.from(timeDigits(date, pad(year % 100)) + "Z", "ascii"));
}

/** GeneralizedTime YYYYMMDDHHMMSSZ, without fractional seconds. */
export function generalizedTime(date: Date): Buffer {
  return tlv(
    TAG.generalizedTime,
    Buffer.from(timeDigits(date, pad(date.getUTCFullYear(), 4)) + "Z", "ascii"),
  );
}

/** X.509 Time (RFC 5280 §4.1.2.5): UTCTime through 2049, GeneralizedTime from 2050. */
export function x509Time(date: Date): Buffer {
  return date.getUTCFullYear() < 2050 ? utcTime(date) : generalizedTime(date);
}

function timeDigits(date: Date, year: string): string {
  return (
    year +
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) +
    pad(date.getUTCSeconds())
  );
}

/** [n] EXPLICIT: a constructed context-specific tag wrapping one complete encoding. */
export function explicit(tagNumber: number, inner: Buffer): Buffer {
  return tlv(CONTEXT_SPECIFIC | CONSTRUCTED | tagNumberBits(tagNumber), inner);
}

/**
 * [n] IMPLICIT: the context-specific tag replaces the element's own tag, so this takes the
 * element's content octets (for example the ASCII of a dNSName). Pass constructed = true when the
 * replaced type is constructed (a SEQUENCE), and then the concatenated inner elements.
 */
export function implicit(tagNumber: number, content: Uint8Array, constructed = false): Buffer {
  return tlv(CONTEXT_SPECIFIC | (constructed ? CONSTRUCTED : 0) | tagNumberBits(tagNumber), content);
}

function tagNumberBits(tagNumber: number): number {
  if (!Number.isInteger(tagNumber) || tagNumber < 0 || tagNumber > 30) {
    throw new RangeError(`tag number ${tagNumber} needs the multi-octet form`);
  }
  return tagNumber;
}
