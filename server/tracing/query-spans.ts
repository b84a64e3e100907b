// A span for each database query a call makes, from Kysely's log hook: Kysely calls it after every
// query it runs (BEGIN and COMMIT included), with the query and how long it took, in the async
// context of the code that awaited it, so the span is made afterwards with its real start time,
// under the call's span. Queries outside any call (the replica's heartbeat, last-used flushes,
// migrations) get no span: they would be root spans of their own, every second; nor do queries
// made after their call has answered.
// A span carries the SQL text, whose values Kysely always sends as parameters, and never the
// parameters; a failed query's span carries its SQLSTATE, never Postgres' message, which can quote
// a value ("invalid input syntax for type uuid: ...").
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Tracer } from "@opentelemetry/api";
import { AliasNode, TableNode, type CompiledQuery, type Logger as KyselyLogger, type OperationNode } from "kysely";

/** Kysely's log hook making a client span for each query run inside a span. */
export function createQuerySpans(tracer: Tracer, databaseUrl: string): KyselyLogger {
  const server = serverOf(databaseUrl);
  return (event) => {
    const parent = context.active();
    // A span stops recording when it ends (or was never sampled): background work a call started
    // (an outage's probes, a hash upgrade) keeps its context but is not part of it.
    if (trace.getSpan(parent)?.isRecording() !== true) return;
    // performance.now() times, as the SDK takes them: on the same clock as the call's span.
    const end = performance.now();
    const { operation, table } = describe(event.query);
    const attributes: Attributes = { "db.system": "postgresql", "db.operation": operation, "db.statement": event.query.sql, ...server };
    if (table !== undefined) attributes["db.sql.table"] = table;
    const span = tracer.startSpan(
      table === undefined ? operation : `${operation} ${table}`,
      { kind: SpanKind.CLIENT, startTime: end - event.queryDurationMillis, attributes },
      parent,
    );
    if (event.level === "error") {
      const sqlState = (event.error as { code?: unknown } | undefined)?.code;
      const type = typeof sqlState === "string" && /^[0-9A-Z]{5}$/.test(sqlState) ? sqlState : "error";
      span.setAttribute("error.type", type);
      span.setStatus({ code: SpanStatusCode.ERROR, message: type });
    }
    span.end(end);
  };
}

/** The statement's first keyword (SELECT, INSERT, BEGIN...) and the table it reads or writes, when there is one. */
function describe(query: CompiledQuery): { operation: string; table: string | undefined } {
  const operation = (/^\s*([A-Za-z]+)/.exec(query.sql)?.[1] ?? "QUERY").toUpperCase();
  const node = query.query;
  let target: OperationNode | undefined;
  switch (node.kind) {
    case "SelectQueryNode":
    case "DeleteQueryNode":
      target = node.from?.froms[0];
      break;
    case "InsertQueryNode":
      target = node.into;
      break;
    case "UpdateQueryNode":
      target = node.table;
      break;
  }
  if (target && AliasNode.is(target)) target = target.node;
  return { operation, table: target && TableNode.is(target) ? target.table.identifier.name : undefined };
}

/** The database's name, host and port from its URL: never its user or password. */
function serverOf(databaseUrl: string): Attributes {
  try {
    const url = new URL(databaseUrl);
    const attributes: Attributes = { "server.address": url.hostname };
    if (url.port) attributes["server.port"] = Number(url.port);
    const name = decodeURIComponent(url.pathname.slice(1));
    if (name) attributes["db.name"] = name;
    return attributes;
  } catch {
    return {};
  }
}
