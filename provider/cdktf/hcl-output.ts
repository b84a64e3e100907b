// cdktf's HCL renderer knows only the block types of its own classes: it would drop the top-level
// `ephemeral` block and the attributes of hand-written bindings without a word. Fail loudly instead.

/** Throws: `what` can only be synthesized as JSON. */
export function hclOutputUnsupported(what: string): never {
  throw new Error(
    `${what}: cdktf's HCL output cannot render this element (it has no "ephemeral" block and would drop its arguments); ` +
      `synthesize JSON instead by removing "hclOutput" from cdktf.json.`,
  );
}
