import { describe, expect, it } from "vitest";
import { decode, encode, Ext, type Msg } from "../provider/protocol/msgpack.js";
import { UNKNOWN, type TfType, type TfValue } from "../provider/protocol/schema.js";
import { decodeJsonValue, decodeValue, encodeValue, typeJson, valuesEqual } from "../provider/protocol/values.js";

// Byte vectors below are derived by hand from the MessagePack spec
// (https://github.com/msgpack/msgpack/blob/master/spec.md), except the two marked as captured from
// a plan file written by Terraform 1.11.4 (cty's own encoder), which cross-check our reading of it.

const bytes = (hexText: string): Uint8Array => Uint8Array.from(Buffer.from(hexText.replace(/\s+/g, ""), "hex"));
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex").replace(/(..)(?!$)/g, "$1 ");
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("msgpack codec", () => {
  it.each([
    [0, "00"],
    [127, "7f"],
    [128, "cc 80"],
    [255, "cc ff"],
    [256, "cd 01 00"],
    [65535, "cd ff ff"],
    [65536, "ce 00 01 00 00"],
    [4294967295, "ce ff ff ff ff"],
    [4294967296, "cf 00 00 00 01 00 00 00 00"],
    [Number.MAX_SAFE_INTEGER, "cf 00 1f ff ff ff ff ff ff"],
    [-1, "ff"],
    [-32, "e0"],
    [-33, "d0 df"],
    [-128, "d0 80"],
    [-129, "d1 ff 7f"],
    [-32768, "d1 80 00"],
    [-32769, "d2 ff ff 7f ff"],
    [-2147483648, "d2 80 00 00 00"],
    [-2147483649, "d3 ff ff ff ff 7f ff ff ff"],
    [Number.MIN_SAFE_INTEGER, "d3 ff e0 00 00 00 00 00 01"],
    [1.5, "cb 3f f8 00 00 00 00 00 00"],
    [0.1, "cb 3f b9 99 99 99 99 99 9a"],
    [-2.5, "cb c0 04 00 00 00 00 00 00"],
    [2 ** 60, "cb 43 b0 00 00 00 00 00 00"],
  ])("encodes the number %d as %s and decodes it back", (n, expected) => {
    expect(hex(encode(n))).toBe(expected);
    expect(decode(bytes(expected))).toBe(n);
  });

  it.each([
    ["uint8", "cc 05", 5],
    ["uint16", "cd 00 05", 5],
    ["uint32", "ce 00 00 00 05", 5],
    ["uint64", "cf 00 00 00 00 00 00 00 05", 5],
    ["int8", "d0 05", 5],
    ["int16", "d1 ff fb", -5],
    ["int32", "d2 ff ff ff fb", -5],
    ["int64", "d3 ff ff ff ff ff ff ff fb", -5],
    ["float32", "ca 3f c0 00 00", 1.5],
    ["float64", "cb 3f f8 00 00 00 00 00 00", 1.5],
  ])("decodes a number sent as %s, not only in the smallest form", (_kind, wire, n) => {
    expect(decode(bytes(wire))).toBe(n);
  });

  it.each([
    ["uint64 2^53", "cf 00 20 00 00 00 00 00 00"],
    ["uint64 max", "cf ff ff ff ff ff ff ff ff"],
    ["int64 -2^53", "d3 ff e0 00 00 00 00 00 00"],
    ["int64 min", "d3 80 00 00 00 00 00 00 00"],
  ])("refuses %s, beyond what a JS number holds exactly", (_what, wire) => {
    expect(() => decode(bytes(wire))).toThrow(/outside the safe range/);
  });

  it("encodes nil, false and true as single bytes", () => {
    expect(hex(encode(null))).toBe("c0");
    expect(hex(encode(false))).toBe("c2");
    expect(hex(encode(true))).toBe("c3");
    expect([decode(bytes("c0")), decode(bytes("c2")), decode(bytes("c3"))]).toEqual([null, false, true]);
  });

  it.each([
    [0, "a0"],
    [31, "bf"],
    [32, "d9 20"],
    [255, "d9 ff"],
    [256, "da 01 00"],
    [65535, "da ff ff"],
    [65536, "db 00 01 00 00"],
  ])("writes a %d-byte string with the header %s", (length, header) => {
    const text = "x".repeat(length);
    const encoded = encode(text);
    expect(hex(encoded.subarray(0, header.split(" ").length))).toBe(header);
    expect(encoded.length).toBe(header.split(" ").length + length);
    expect(decode(encoded)).toBe(text);
  });

  it("measures strings in UTF-8 bytes, not characters", () => {
    expect(hex(encode("é"))).toBe("a2 c3 a9");
    expect(hex(encode("€🔑"))).toBe("a7 e2 82 ac f0 9f 94 91");
    // 16 two-byte characters are 32 bytes: one past fixstr, although only 16 characters.
    expect(hex(encode("é".repeat(16)).subarray(0, 2))).toBe("d9 20");
    const mixed = `${"ключ-🔑-".repeat(5000)}end`;
    expect(decode(encode(mixed))).toBe(mixed);
    expect(decode(bytes("a2 c3 a9"))).toBe("é");
  });

  it("rejects a string that is not valid UTF-8", () => {
    expect(() => decode(bytes("a2 c3 28"))).toThrow(/not valid UTF-8/);
    expect(() => decode(bytes("a1 ff"))).toThrow(/not valid UTF-8/);
  });

  it("accepts bin 8/16/32 on decode", () => {
    expect(decode(bytes("c4 02 01 02"))).toEqual(new Uint8Array([1, 2]));
    expect(decode(bytes("c5 00 01 07"))).toEqual(new Uint8Array([7]));
    expect(decode(bytes("c6 00 00 00 00"))).toEqual(new Uint8Array([]));
    expect(hex(encode(new Uint8Array([1, 2])))).toBe("c4 02 01 02");
  });

  it.each([
    [1, "d4 05"],
    [2, "d5 05"],
    [4, "d6 05"],
    [8, "d7 05"],
    [16, "d8 05"],
    [0, "c7 00 05"],
    [3, "c7 03 05"],
    [255, "c7 ff 05"],
    [256, "c8 01 00 05"],
    [65536, "c9 00 01 00 00 05"],
  ])("writes an ext of %d bytes with the header %s and reads it back", (length, header) => {
    const data = Uint8Array.from({ length }, (_, i) => i & 0xff);
    const encoded = encode(new Ext(5, data));
    expect(hex(encoded.subarray(0, header.split(" ").length))).toBe(header);
    const back = decode(encoded) as Ext;
    expect(back).toBeInstanceOf(Ext);
    expect(back.type).toBe(5);
    expect(Buffer.from(back.data).equals(data)).toBe(true);
  });

  it("reads ext 32 with a short payload and signed ext types", () => {
    expect(decode(bytes("c9 00 00 00 02 0c aa bb"))).toEqual(new Ext(12, new Uint8Array([0xaa, 0xbb])));
    expect(decode(bytes("d4 ff 00"))).toEqual(new Ext(-1, new Uint8Array([0])));
  });

  it("uses 16-bit array and map headers past 15 entries", () => {
    const fifteen = Array.from({ length: 15 }, () => 1);
    expect(hex(encode(fifteen).subarray(0, 1))).toBe("9f");
    expect(hex(encode([...fifteen, 1]).subarray(0, 3))).toBe("dc 00 10");
    const map = new Map<Msg, Msg>(Array.from({ length: 16 }, (_, i) => [`k${i}`, i]));
    expect(hex(encode(map).subarray(0, 3))).toBe("de 00 10");
    expect(decode(encode(map))).toEqual(map);
    expect(decode(bytes("dd 00 00 00 02 01 02"))).toEqual([1, 2]);
    expect(decode(bytes("df 00 00 00 01 a1 61 c0"))).toEqual(new Map([["a", null]]));
  });

  it("reports truncated input for every strict prefix of a value", () => {
    const whole = encode(new Map<Msg, Msg>([
      ["s", "x".repeat(300)],
      ["n", [1, -200, 70000, 2 ** 40, 1.5]],
      ["u", new Ext(0, new Uint8Array([0]))],
      ["b", new Uint8Array([1, 2, 3])],
    ]));
    for (let end = 0; end < whole.length; end++) {
      expect(() => decode(whole.subarray(0, end)), `prefix of ${end} bytes`).toThrow(/truncated input/);
    }
    expect(decode(whole)).toBeInstanceOf(Map);
  });

  it("refuses a length the input cannot hold before allocating for it", () => {
    expect(() => decode(bytes("dd ff ff ff ff"))).toThrow(/truncated input: array of 4294967295/);
    expect(() => decode(bytes("df ff ff ff ff c0"))).toThrow(/truncated input: map of 4294967295/);
    expect(() => decode(bytes("db ff ff ff ff 61"))).toThrow(/truncated input: string at offset 5 needs 4294967295 bytes, 1 left/);
  });

  it("rejects trailing bytes, the reserved byte 0xc1, duplicate map keys and absurd nesting", () => {
    expect(() => decode(bytes("c0 c0"))).toThrow(/1 unexpected bytes after the value/);
    expect(() => decode(bytes("c1"))).toThrow(/invalid type byte 0xc1 at offset 0/);
    expect(() => decode(bytes("82 a1 61 01 a1 61 02"))).toThrow(/duplicate map key "a"/);
    expect(() => decode(new Uint8Array([...new Array<number>(1000).fill(0x91), 0xc0]))).toThrow(/nesting deeper than/);
  });
});

describe("values: cty's msgpack encoding", () => {
  const key = { object: { name: "string", n: "number" } } as const satisfies TfType;

  it("encodes null as nil whatever the type", () => {
    for (const type of ["string", "number", "bool", { list: "string" }, { map: "string" }, key] as TfType[]) {
      expect(hex(encodeValue(null, type))).toBe("c0");
      expect(decodeValue(bytes("c0"), type)).toBeNull();
    }
  });

  it("encodes unknown as ext type 0 with one zero byte, as cty does", () => {
    for (const type of ["string", "number", { set: "string" }, key] as TfType[]) {
      expect(hex(encodeValue(UNKNOWN, type))).toBe("d4 00 00");
    }
  });

  it("decodes a wholly unknown value (ext 0, with or without its zero byte) as UNKNOWN", () => {
    expect(decodeValue(bytes("d4 00 00"), "string")).toBe(UNKNOWN);
    expect(decodeValue(bytes("c7 00 00"), { list: "string" })).toBe(UNKNOWN);
  });

  it("decodes a refined unknown (ext 12 carrying a refinement map) as UNKNOWN", () => {
    // Captured from Terraform 1.11.4: a computed id planned unknown and refined "not null" ({1: false}).
    expect(decodeValue(bytes("c7 03 0c 81 01 c2"), "string")).toBe(UNKNOWN);
    // By hand: not null and string prefix "ak_" ({1: false, 2: "ak_"}), 8 bytes, so fixext 8.
    const refined = bytes("82 a4 6e 61 6d 65 d7 0c 82 01 c2 02 a3 61 6b 5f a1 6e c0");
    expect(decodeValue(refined, key)).toEqual({ name: UNKNOWN, n: null });
  });

  it("encodes an object with every attribute of its type, in the type's order, absent ones as nil", () => {
    expect(hex(encodeValue({ name: "a", n: null }, key))).toBe("82 a4 6e 61 6d 65 a1 61 a1 6e c0");
    expect(hex(encodeValue({ name: "a" }, key))).toBe("82 a4 6e 61 6d 65 a1 61 a1 6e c0");
    expect(hex(encodeValue({ n: 1, name: UNKNOWN }, key))).toBe("82 a4 6e 61 6d 65 d4 00 00 a1 6e 01");
  });

  it("decodes nested objects, filling attributes absent at any level with null", () => {
    const type: TfType = { object: { id: "string", outer: { object: { a: "string", b: "number", c: { list: "string" } } } } };
    // {"outer": {"a": "x"}}
    const wire = bytes("81 a5 6f 75 74 65 72 81 a1 61 a1 78");
    expect(decodeValue(wire, type)).toEqual({ id: null, outer: { a: "x", b: null, c: null } });
    // An empty map is an object whose attributes are all null.
    expect(decodeValue(bytes("80"), type)).toEqual({ id: null, outer: null });
  });

  it("rejects an attribute the object type does not have, naming where it was", () => {
    const type: TfType = { object: { outer: { object: { a: "string" } } } };
    // {"outer": {"a": "x", "zz": true}}
    const wire = bytes("81 a5 6f 75 74 65 72 82 a1 61 a1 78 a2 7a 7a c3");
    expect(() => decodeValue(wire, type)).toThrow('decodeValue: outer.zz is not an attribute of the object type (expected one of: a)');
  });

  it("encodes lists and sets of strings as arrays, keeping their order", () => {
    expect(hex(encodeValue(["b", "a"], { list: "string" }))).toBe("92 a1 62 a1 61");
    expect(hex(encodeValue(["b", "a"], { set: "string" }))).toBe("92 a1 62 a1 61");
    expect(hex(encodeValue([], { set: "string" }))).toBe("90");
    expect(decodeValue(bytes("92 a1 62 a1 61"), { set: "string" })).toEqual(["b", "a"]);
    expect(decodeValue(bytes("93 a1 61 d4 00 00 c0"), { list: "string" })).toEqual(["a", UNKNOWN, null]);
  });

  it("encodes maps as msgpack maps of their elements", () => {
    expect(hex(encodeValue({ env: "prod" }, { map: "string" }))).toBe("81 a3 65 6e 76 a4 70 72 6f 64");
    expect(hex(encodeValue({}, { map: "string" }))).toBe("80");
    expect(decodeValue(bytes("82 a1 61 01 a1 62 d4 00 00"), { map: "number" })).toEqual({ a: 1, b: UNKNOWN });
  });

  it("keeps a map key named __proto__ as an ordinary key", () => {
    const value = decodeValue(bytes("81 a9 5f 5f 70 72 6f 74 6f 5f 5f a1 78"), { map: "string" }) as Record<string, TfValue>;
    expect(Object.keys(value)).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });

  it("encodes integral numbers as the smallest int and others as float64", () => {
    expect(hex(encodeValue(300, "number"))).toBe("cd 01 2c");
    expect(hex(encodeValue(-200, "number"))).toBe("d1 ff 38");
    expect(hex(encodeValue(-3, "number"))).toBe("fd");
    expect(hex(encodeValue(0.5, "number"))).toBe("cb 3f e0 00 00 00 00 00 00");
  });

  it("decodes a number cty sent as a string because it fits neither int64 nor float64", () => {
    expect(decodeValue(bytes("a3 30 2e 31"), "number")).toBe(0.1);
    expect(decodeValue(encode("123456789012345678901234567890.5"), "number")).toBe(1.2345678901234568e29);
    expect(decodeValue(encode("-7"), "number")).toBe(-7);
    for (const bad of ["abc", "", " ", "Infinity", "1e999"]) {
      expect(() => decodeValue(encode(bad), "number"), bad).toThrow(/the value must be a number, got the string/);
    }
  });

  it("refuses to encode NaN, which cty cannot represent", () => {
    expect(() => encodeValue({ name: "a", n: Number.NaN }, key)).toThrow(/encodeValue: n must be a number, got number/);
  });

  it("throws with the attribute path when a value's kind does not match its type", () => {
    const type: TfType = { object: { tags: { map: "string" }, scopes: { set: "string" }, flag: "bool" } };
    expect(() => encodeValue({ tags: { env: 1 } }, type)).toThrow('encodeValue: tags["env"] must be a string, got number');
    expect(() => encodeValue({ scopes: ["a", 2] }, type)).toThrow("encodeValue: scopes[1] must be a string, got number");
    expect(() => encodeValue({ flag: "yes" }, type)).toThrow("encodeValue: flag must be a bool, got string");
    expect(() => encodeValue({ scopes: "a" }, type)).toThrow("encodeValue: scopes must be a set of string, got string");
    expect(() => encodeValue({ extra: "x" }, type)).toThrow("encodeValue: extra is not an attribute of the object type");
    expect(() => encodeValue("x", type)).toThrow("encodeValue: the value must be an object, got string");
  });

  it("rejects a wire value of the wrong kind, naming its path", () => {
    const type: TfType = { object: { scopes: { list: "string" } } };
    // {"scopes": ["a", 1]}
    expect(() => decodeValue(bytes("81 a6 73 63 6f 70 65 73 92 a1 61 01"), type)).toThrow("decodeValue: scopes[1] must be a string, got number");
    expect(() => decodeValue(bytes("c3"), "string")).toThrow("decodeValue: the value must be a string, got boolean");
    expect(() => decodeValue(bytes("81 01 c0"), type)).toThrow("decodeValue: the value has a number key; keys must be strings");
  });

  it("reports truncated input for every strict prefix of an encoded value", () => {
    const type: TfType = { object: { name: "string", scopes: { set: "string" }, n: "number" } };
    const whole = encodeValue({ name: "x".repeat(40), scopes: ["read", "write"], n: 70000 }, type);
    for (let end = 0; end < whole.length; end++) {
      expect(() => decodeValue(whole.subarray(0, end), type), `prefix of ${end} bytes`).toThrow(/msgpack: truncated input/);
    }
  });

  it("round-trips strings past 31, 255 and 65535 bytes, and non-ASCII text", () => {
    const type: TfType = { object: { a: "string", b: "string", c: "string", d: "string", e: "string" } };
    const value = { a: "a".repeat(32), b: "b".repeat(256), c: "c".repeat(65536), d: "Schlüssel 🔑 ключ", e: "" };
    const encoded = encodeValue(value, type);
    expect(encoded.length).toBe(1 + 5 * 2 + (2 + 32) + (3 + 256) + (5 + 65536) + (1 + 24) + 1);
    expect(decodeValue(encoded, type)).toEqual(value);
  });

  it("round-trips a value with every kind of type, nulls and unknowns", () => {
    const type: TfType = {
      object: {
        id: "string",
        access: "string",
        scopes: { set: "string" },
        history: { list: { object: { at: "string", count: "number" } } },
        labels: { map: "string" },
        enabled: "bool",
        version: "number",
        ratio: "number",
      },
    };
    const value: TfValue = {
      id: UNKNOWN,
      access: "CUSTOM",
      scopes: ["keys:read", "keys:write"],
      history: [{ at: "2025-01-01", count: -40000 }, { at: UNKNOWN, count: null }],
      labels: { team: "data", "é": "€" },
      enabled: false,
      version: 2 ** 40,
      ratio: 0.25,
    };
    const back = decodeValue(encodeValue(value, type), type);
    expect(back).toEqual(value);
    expect(valuesEqual(back, value)).toBe(true);
  });

  it("decodes an object value exactly as Terraform 1.11.4 encoded it, and describes its type the same way", () => {
    // Captured from a plan file: an output of this type, which cty wraps as [type JSON (bin), value].
    const captured = bytes(`
      92 c4 df 5b 22 6f 62 6a 65 63 74 22 2c 7b 22 62 69 67 22 3a 22 6e 75 6d 62 65 72 22 2c 22 66 22
      3a 22 6e 75 6d 62 65 72 22 2c 22 6c 69 73 74 22 3a 5b 22 6c 69 73 74 22 2c 22 73 74 72 69 6e 67
      22 5d 2c 22 6e 22 3a 22 6e 75 6d 62 65 72 22 2c 22 6e 61 6d 65 22 3a 22 73 74 72 69 6e 67 22 2c
      22 6e 65 67 22 3a 22 6e 75 6d 62 65 72 22 2c 22 6e 65 73 74 65 64 22 3a 5b 22 6f 62 6a 65 63 74
      22 2c 7b 22 61 22 3a 22 73 74 72 69 6e 67 22 2c 22 62 22 3a 22 6e 75 6d 62 65 72 22 7d 5d 2c 22
      73 63 6f 70 65 73 22 3a 5b 22 73 65 74 22 2c 22 73 74 72 69 6e 67 22 5d 2c 22 74 61 67 73 22 3a
      5b 22 6d 61 70 22 2c 22 73 74 72 69 6e 67 22 5d 2c 22 77 6f 72 64 22 3a 22 73 74 72 69 6e 67 22
      7d 5d 8a a3 62 69 67 d9 20 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 30 31 32 33
      34 35 36 37 38 39 30 2e 35 a1 66 a3 30 2e 31 a4 6c 69 73 74 92 a1 78 a1 79 a1 6e cd 01 2c a4 6e
      61 6d 65 a1 61 a3 6e 65 67 d1 ff 38 a6 6e 65 73 74 65 64 82 a1 61 a1 7a a1 62 c0 a6 73 63 6f 70
      65 73 92 a4 72 65 61 64 a5 77 72 69 74 65 a4 74 61 67 73 82 a3 65 6e 76 a4 70 72 6f 64 a2 c3 a9
      a7 e2 82 ac f0 9f 94 91 a4 77 6f 72 64 c0`);
    const type: TfType = {
      object: {
        big: "number",
        f: "number",
        list: { list: "string" },
        n: "number",
        name: "string",
        neg: "number",
        nested: { object: { a: "string", b: "number" } },
        scopes: { set: "string" },
        tags: { map: "string" },
        word: "string",
      },
    };
    const [typeBytes, value] = decode(captured) as [Uint8Array, Msg];
    expect(new TextDecoder().decode(typeJson(type))).toBe(new TextDecoder().decode(typeBytes));
    const valueBytes = encode(value);
    expect(hex(valueBytes)).toBe(hex(captured.subarray(3 + 0xdf)));
    const expected = {
      big: 1.2345678901234568e29,
      f: 0.1,
      list: ["x", "y"],
      n: 300,
      name: "a",
      neg: -200,
      nested: { a: "z", b: null },
      scopes: ["read", "write"],
      tags: { env: "prod", "é": "€🔑" },
      word: null,
    };
    expect(decodeValue(valueBytes, type)).toEqual(expected);
    expect(decodeValue(encodeValue(expected, type), type)).toEqual(expected);
  });
});

describe("values: JSON (DynamicValue.json, RawState.json)", () => {
  const type: TfType = {
    object: {
      id: "string",
      scopes: { set: "string" },
      labels: { map: "string" },
      version: "number",
      nested: { object: { a: "string", b: "bool" } },
    },
  };

  it("decodes state JSON, filling attributes absent at any level with null", () => {
    const json = utf8('{"id":"k1","scopes":["b","a"],"labels":{"x":"y"},"nested":{"a":"z"}}');
    expect(decodeJsonValue(json, type)).toEqual({ id: "k1", scopes: ["b", "a"], labels: { x: "y" }, version: null, nested: { a: "z", b: null } });
    expect(decodeJsonValue(utf8("null"), type)).toBeNull();
    expect(decodeJsonValue(utf8("{}"), type)).toEqual({ id: null, scopes: null, labels: null, version: null, nested: null });
  });

  it("accepts numbers as JSON numbers or numeric strings", () => {
    expect(decodeJsonValue(utf8('{"version":3}'), type)).toMatchObject({ version: 3 });
    expect(decodeJsonValue(utf8('{"version":"2.5"}'), type)).toMatchObject({ version: 2.5 });
    expect(() => decodeJsonValue(utf8('{"version":"two"}'), type)).toThrow('decodeJsonValue: version must be a number, got the string "two"');
  });

  it("rejects an attribute the object type does not have, naming where it was", () => {
    expect(() => decodeJsonValue(utf8('{"nested":{"a":"z","secret":"s"}}'), type)).toThrow(
      "decodeJsonValue: nested.secret is not an attribute of the object type (expected one of: a, b)",
    );
  });

  it("rejects values of the wrong kind and text that is not JSON", () => {
    expect(() => decodeJsonValue(utf8('{"scopes":"a"}'), type)).toThrow("decodeJsonValue: scopes must be a set of string, got string");
    expect(() => decodeJsonValue(utf8('{"labels":{"x":1}}'), type)).toThrow('decodeJsonValue: labels["x"] must be a string, got number');
    expect(() => decodeJsonValue(utf8('{"nested":{"b":"true"}}'), type)).toThrow("decodeJsonValue: nested.b must be a bool, got string");
    expect(() => decodeJsonValue(utf8("{"), type)).toThrow(/decodeJsonValue: not valid JSON/);
  });
});

describe("typeJson", () => {
  it.each<[TfType, string]>([
    ["string", '"string"'],
    ["number", '"number"'],
    ["bool", '"bool"'],
    [{ list: "string" }, '["list","string"]'],
    [{ set: "string" }, '["set","string"]'],
    [{ map: "number" }, '["map","number"]'],
    [{ object: { a: "string" } }, '["object",{"a":"string"}]'],
    [{ list: { object: { a: { set: "bool" }, b: { map: "string" } } } }, '["list",["object",{"a":["set","bool"],"b":["map","string"]}]]'],
  ])("encodes %j as %s", (type, expected) => {
    expect(new TextDecoder().decode(typeJson(type))).toBe(expected);
  });
});

describe("valuesEqual", () => {
  it.each<[string, TfValue, TfValue, boolean]>([
    ["equal primitives", "a", "a", true],
    ["different strings", "a", "b", false],
    ["a number and its string", 1, "1", false],
    ["null and null", null, null, true],
    ["null and unknown", null, UNKNOWN, false],
    ["unknown and unknown", UNKNOWN, UNKNOWN, true],
    ["unknown and a string", UNKNOWN, "a", false],
    ["equal arrays", ["a", "b"], ["a", "b"], true],
    ["arrays in another order", ["a", "b"], ["b", "a"], false],
    ["arrays of other lengths", ["a"], ["a", "a"], false],
    ["an array and an object", [], {}, false],
    ["equal nested objects", { a: { b: [1, UNKNOWN] } }, { a: { b: [1, UNKNOWN] } }, true],
    ["objects differing deep inside", { a: { b: [1, 2] } }, { a: { b: [1, 3] } }, false],
    ["objects with other keys", { a: null }, { b: null }, false],
    ["an object with an extra null key", { a: 1 }, { a: 1, b: null }, false],
  ])("compares %s", (_what, a, b, expected) => {
    expect(valuesEqual(a, b)).toBe(expected);
    expect(valuesEqual(b, a)).toBe(expected);
  });
});
