// Problems travel back to Terraform as diagnostics, never as exceptions across the wire: a
// one-sentence summary and a detail that tells the user what to do, optionally pointing at the
// attribute at fault so Terraform underlines it in the configuration.

/** One problem for the user. */
export interface Diagnostic {
  readonly severity: "error" | "warning";
  readonly summary: string;
  readonly detail: string;
  /** Top-level attribute name the problem is about, when there is one. */
  readonly attribute?: string;
}

/** Thrown by resource code to stop an operation with diagnostics; the protocol layer returns them. */
export class DiagnosticsError extends Error {
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    super(diagnostics.map((d) => d.summary).join("; "));
    this.name = "DiagnosticsError";
  }
}

/** An error diagnostic. */
export function error(summary: string, detail: string, attribute?: string): Diagnostic {
  return { severity: "error", summary, detail, ...(attribute ? { attribute } : {}) };
}
