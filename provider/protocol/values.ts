// Values on the wire, as cty (Terraform's value library) encodes them: tfplugin6 DynamicValue is
// msgpack (or, for state Terraform stored earlier, JSON) of a value whose type both sides know from
// the schema. Nothing on the wire says which type a value has, so every conversion walks the type.
import { decode, encode, Ext, type Msg } from "./msgpack.js";
import { UNKNOWN, type TfType, type TfValue } from "./schema.js";

// cty writes a wholly unknown value as ext type 0 with one zero byte (the shortest ext encoding).
// Terraform 1.6+ may send refined unknowns (ext type 12, a map of refinements such as "not null"
// or a string prefix); cty's decoder, and ours, read any extension as unknown.
const UNKNOWN_EXT = new Ext(0, new Uint8Array([0]));

/** A path into a value, for error messages only: attribute names, list indexes, map keys. */
type Path = (string | number | { key: string })[];

function where(path: Path): string {
  if (path.length === 0) return "the value";
  let s = "";
  for (const step of path) {
    if (typeof step === "number") s += `[${step}]`;
    else if (typeof step === "string") s += s === "" ? step : `.${step}`;
    else s += `[${JSON.stringify(step.key)}]`;
  }
  return s;
}

function describeType(type: TfType): string {
  if (typeof type === "string") return type;
  if ("list" in type) return `list of ${describeType(type.list)}`;
  if ("set" in type) return `set of ${describeType(type.set)}`;
  if ("map" in type) return `map of ${describeType(type.map)}`;
  return "object";
}

function aType(type: TfType): string {
  const d = describeType(type);
  return `${/^[aeiou]/.test(d) ? "an" : "a"} ${d}`;
}

function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (v instanceof Map) return "map";
  if (v instanceof Uint8Array) return "bytes";
  return typeof v;
}

function isRecord(v: unknown): v is { readonly [key: string]: unknown } {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Uint8Array);
}

/** Encodes a value as a tfplugin6 DynamicValue.msgpack. A value that does not fit its type throws. */
export function encodeValue(value: TfValue, type: TfType): Uint8Array {
  return encode(toMsg(value, type, []));
}

function toMsg(v: TfValue, type: TfType, path: Path): Msg {
  if (v === null) return null;
  if (v === UNKNOWN) return UNKNOWN_EXT;
  const wrong = (): Error =>
    new Error(`encodeValue: ${where(path)} must be ${aType(type)}, got ${describeValue(v)} (a bug in the provider)`);
  if (type === "string") {
    if (typeof v !== "string") throw wrong();
    return v;
  }
  if (type === "bool") {
    if (typeof v !== "boolean") throw wrong();
    return v;
  }
  if (type === "number") {
    // cty has no NaN; Terraform would reject it anyway, later and with a worse message.
    if (typeof v !== "number" || Number.isNaN(v)) throw wrong();
    return v;
  }
  if ("list" in type || "set" in type) {
    if (!Array.isArray(v)) throw wrong();
    const element = "list" in type ? type.list : type.set;
    const items: readonly TfValue[] = v;
    return items.map((item, i) => {
      path.push(i);
      const m = toMsg(item, element, path);
      path.pop();
      return m;
    });
  }
  if (!isRecord(v)) throw wrong();
  const out = new Map<Msg, Msg>();
  if ("map" in type) {
    for (const key of Object.keys(v)) {
      path.push({ key });
      out.set(key, toMsg(v[key] as TfValue, type.map, path));
      path.pop();
    }
    return out;
  }
  // Terraform rejects an object that lacks an attribute of its type, so absent ones are sent as null.
  for (const name of Object.keys(type.object)) {
    path.push(name);
    out.set(name, toMsg(Object.hasOwn(v, name) ? (v[name] as TfValue) : null, type.object[name]!, path));
    path.pop();
  }
  for (const name of Object.keys(v)) {
    if (!Object.hasOwn(type.object, name)) {
      throw new Error(`encodeValue: ${where([...path, name])} is not an attribute of the object type (a bug in the provider)`);
    }
  }
  return out;
}

/** Decodes a tfplugin6 DynamicValue.msgpack of the given type. */
export function decodeValue(bytes: Uint8Array, type: TfType): TfValue {
  return fromMsg(decode(bytes), type, [], "decodeValue");
}

function fromMsg(m: Msg, type: TfType, path: Path, caller: string): TfValue {
  if (m === null) return null;
  if (m instanceof Ext) return UNKNOWN;
  const wrong = (): Error => new Error(`${caller}: ${where(path)} must be ${aType(type)}, got ${describeValue(m)}`);
  if (type === "string") {
    if (typeof m !== "string") throw wrong();
    return m;
  }
  if (type === "bool") {
    if (typeof m !== "boolean") throw wrong();
    return m;
  }
  if (type === "number") {
    if (typeof m === "number") return m;
    if (typeof m === "string") return parseNumber(m, path, caller);
    throw wrong();
  }
  if ("list" in type || "set" in type) {
    if (!Array.isArray(m)) throw wrong();
    const element = "list" in type ? type.list : type.set;
    const items: readonly Msg[] = m;
    return items.map((item, i) => {
      path.push(i);
      const v = fromMsg(item, element, path, caller);
      path.pop();
      return v;
    });
  }
  if (!(m instanceof Map)) throw wrong();
  const entries = m as ReadonlyMap<Msg, Msg>;
  for (const key of entries.keys()) {
    if (typeof key !== "string") throw new Error(`${caller}: ${where(path)} has a ${describeValue(key)} key; keys must be strings`);
  }
  if ("map" in type) {
    const out: [string, TfValue][] = [];
    for (const [key, item] of entries) {
      path.push({ key: key as string });
      out.push([key as string, fromMsg(item, type.map, path, caller)]);
      path.pop();
    }
    // fromEntries, not assignment: a key named "__proto__" must stay a key.
    return Object.fromEntries(out);
  }
  return objectFrom(type.object, path, caller, entries as ReadonlyMap<string, Msg>, (item, t, p) => fromMsg(item, t, p, caller));
}

/** Builds an object value holding every attribute of its type, null when absent; others are errors. */
function objectFrom<T>(
  attributes: { readonly [name: string]: TfType },
  path: Path,
  caller: string,
  given: ReadonlyMap<string, T>,
  convert: (item: T, type: TfType, path: Path) => TfValue,
): TfValue {
  for (const name of given.keys()) {
    if (!Object.hasOwn(attributes, name)) {
      throw new Error(`${caller}: ${where([...path, name])} is not an attribute of the object type (expected one of: ${Object.keys(attributes).join(", ")})`);
    }
  }
  const out: { [name: string]: TfValue } = {};
  for (const name of Object.keys(attributes)) {
    path.push(name);
    const item = given.get(name);
    out[name] = item === undefined ? null : convert(item, attributes[name]!, path);
    path.pop();
  }
  return out;
}

function parseNumber(s: string, path: Path, caller: string): number {
  // cty sends numbers that fit neither int64 nor float64 exactly as decimal strings.
  const n = s.trim() === "" ? NaN : Number(s);
  if (!Number.isFinite(n)) throw new Error(`${caller}: ${where(path)} must be a number, got the string ${JSON.stringify(s)}`);
  return n;
}

/** Decodes a tfplugin6 DynamicValue.json or RawState.json of the given type. */
export function decodeJsonValue(json: Uint8Array, type: TfType): TfValue {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
  } catch (error) {
    throw new Error(`decodeJsonValue: not valid JSON: ${(error as Error).message}`);
  }
  return fromMsg(jsonToMsg(parsed), type, [], "decodeJsonValue");
}

/** JSON as the msgpack decoder's output (objects as Maps), so one converter serves both encodings. */
function jsonToMsg(j: unknown): Msg {
  if (Array.isArray(j)) return j.map(jsonToMsg);
  if (isRecord(j)) return new Map(Object.entries(j).map(([k, v]) => [k, jsonToMsg(v)]));
  return j as Msg;
}

/** cty's JSON type encoding, as tfplugin6 Schema.Attribute.type carries it. */
export function typeJson(type: TfType): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(typeToJson(type)));
}

function typeToJson(type: TfType): unknown {
  if (typeof type === "string") return type;
  if ("list" in type) return ["list", typeToJson(type.list)];
  if ("set" in type) return ["set", typeToJson(type.set)];
  if ("map" in type) return ["map", typeToJson(type.map)];
  return ["object", Object.fromEntries(Object.entries(type.object).map(([name, t]) => [name, typeToJson(t)]))];
}

/** Deep equality of two values; arrays (sets too) compare in order; unknown equals only unknown. */
export function valuesEqual(a: TfValue, b: TfValue): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    const bs: readonly TfValue[] = b;
    return (a as readonly TfValue[]).every((item, i) => valuesEqual(item, bs[i] as TfValue));
  }
  const ra = a as { readonly [key: string]: TfValue };
  const rb = b as { readonly [key: string]: TfValue };
  const keys = Object.keys(ra);
  if (keys.length !== Object.keys(rb).length) return false;
  return keys.every((key) => Object.hasOwn(rb, key) && valuesEqual(ra[key] as TfValue, rb[key] as TfValue));
}
