// The provider's own description of schemas and values, independent of the wire: resources declare
// their attributes with these types, and the protocol layer turns them into tfplugin6 schemas and
// msgpack (values.ts, to-proto.ts). Keeping this small is what makes a new resource one new file.

/** A Terraform type: primitives, collections of one element type, and objects. */
export type TfType =
  | "string"
  | "number"
  | "bool"
  | { readonly list: TfType }
  | { readonly set: TfType }
  | { readonly map: TfType }
  | { readonly object: { readonly [name: string]: TfType } };

/** One attribute of a block. Exactly one of required, optional or computed-only holds. */
export interface AttributeSchema {
  readonly type: TfType;
  /** One sentence for users: shown by `terraform providers schema` and editors. */
  readonly description: string;
  readonly required?: boolean;
  readonly optional?: boolean;
  readonly computed?: boolean;
  readonly sensitive?: boolean;
  /** Never stored in plan or state (Terraform 1.11+); managed resources only. */
  readonly writeOnly?: boolean;
}

/** The top-level block of a provider, resource, data source or ephemeral resource. */
export interface BlockSchema {
  readonly description: string;
  readonly attributes: { readonly [name: string]: AttributeSchema };
}

/** Terraform's "not known until apply": a single shared marker, compared by identity. */
export const UNKNOWN: unique symbol = Symbol("unknown");
export type Unknown = typeof UNKNOWN;

/**
 * A value of some TfType. Lists and sets are arrays; maps and objects are plain objects, and an
 * object value always holds every attribute of its type (null when absent). Numbers are JS numbers:
 * the attributes we declare are counts and versions, well within 2^53.
 */
export type TfValue = null | Unknown | string | number | boolean | readonly TfValue[] | { readonly [key: string]: TfValue };

/** An object value: what every block's config, plan and state are. */
export type TfObject = { readonly [name: string]: TfValue };

/** The object type of a block, for encoding and decoding its values. */
export function blockType(block: BlockSchema): { readonly object: { readonly [name: string]: TfType } } {
  return { object: Object.fromEntries(Object.entries(block.attributes).map(([name, a]) => [name, a.type])) };
}

/** True when the value, or anything inside it, is unknown. */
export function containsUnknown(value: TfValue): boolean {
  if (value === UNKNOWN) return true;
  if (value === null || typeof value !== "object") return false;
  return (Array.isArray(value) ? value : Object.values(value)).some(containsUnknown);
}
