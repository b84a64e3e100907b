// Our schema and diagnostic types as tfplugin6 messages.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  Diagnostic_Severity,
  SchemaSchema,
  StringKind,
  type DiagnosticSchema,
  type Schema,
} from "../gen/tfplugin6/tfplugin6_pb.js";
import type { Diagnostic } from "./diagnostics.js";
import type { BlockSchema } from "./schema.js";
import { typeJson } from "./values.js";

/** A block as a tfplugin6 Schema; attributes sorted by name, as Terraform lists them. */
export function schemaToProto(block: BlockSchema): Schema {
  const attributes = Object.entries(block.attributes)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, a]) => ({
      name,
      type: typeJson(a.type),
      description: a.description,
      descriptionKind: StringKind.PLAIN,
      required: a.required ?? false,
      optional: a.optional ?? false,
      computed: a.computed ?? false,
      sensitive: a.sensitive ?? false,
      writeOnly: a.writeOnly ?? false,
    }));
  return create(SchemaSchema, { version: 0n, block: { attributes, description: block.description, descriptionKind: StringKind.PLAIN } });
}

/** Diagnostics as tfplugin6 messages, pointing at their attribute when they name one. */
export function diagnosticsToProto(diagnostics: readonly Diagnostic[]): MessageInitShape<typeof DiagnosticSchema>[] {
  return diagnostics.map((d) => ({
    severity: d.severity === "error" ? Diagnostic_Severity.ERROR : Diagnostic_Severity.WARNING,
    summary: d.summary,
    detail: d.detail,
    ...(d.attribute ? { attribute: attributePath(d.attribute) } : {}),
  }));
}

/** The path of a top-level attribute. */
export function attributePath(name: string): { steps: { selector: { case: "attributeName"; value: string } }[] } {
  return { steps: [{ selector: { case: "attributeName", value: name } }] };
}
