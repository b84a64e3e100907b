// Structured JSON logs, one object per line on stderr. Nothing secret is ever passed to a logger:
// tokens and key material are reduced to hints before they reach here, and `redact` is a last
// line of defence that masks anything shaped like a token.
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

/** Minimal structured logger; `child` adds fields to every line. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
  /** Whether lines of `level` are written: hot paths skip building fields nobody reads. */
  enabled(level: LogLevel): boolean;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
// Any run of 40+ base62 characters after an underscore looks like a token body: mask it.
const TOKEN_LIKE = /([a-z][a-z0-9]{1,15})_[0-9A-Za-z]{40,}/g;

/** Masks token-shaped substrings, keeping the prefix so the line stays useful. */
export function redact(text: string): string {
  return text.replace(TOKEN_LIKE, "$1_[redacted]");
}

/** Creates a logger writing JSON lines to `write` (stderr by default). */
export function createLogger(
  level: LogLevel = "info",
  base: LogFields = {},
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const enabled = (lvl: LogLevel) => ORDER[lvl] >= ORDER[level];
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (!enabled(lvl)) return;
    const record = { time: new Date().toISOString(), level: lvl, msg, ...base, ...fields };
    write(redact(JSON.stringify(record, errorReplacer)) + "\n");
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger(level, { ...base, ...fields }, write),
    enabled,
  };
}

// Errors serialise to {} by default; keep name, message and the cause chain.
function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, cause: value.cause };
  }
  return value;
}
