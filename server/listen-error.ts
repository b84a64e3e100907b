// A listener that cannot bind its port is an operator's problem to fix, not a crash: the message
// names the port and the variable that moves it, in place of grpc-js's or node's raw error.

/** A listener could not listen; the message says where and what to change. */
export class ListenError extends Error {
  override name = "ListenError";
}

/** Where a listener was told to listen, and the variable that says so. */
export interface ListenTarget {
  /** "gRPC" or "HTTP", as the README names the ports. */
  readonly listener: string;
  readonly host: string;
  readonly port: number;
  readonly variable: string;
}

/** A ListenError explaining `err` for `target` when it is a bind failure; otherwise `err` itself. */
export function explainListenError(err: unknown, target: ListenTarget): unknown {
  const message = err instanceof Error ? err.message : String(err);
  // node's errors carry a code; grpc-js folds the one of each address it tried into its message.
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL)\b/.exec(message)?.[1];
  const { listener, host, port, variable } = target;
  const where = `${host}:${port}`;
  switch (code) {
    case "EADDRINUSE":
      return new ListenError(`the ${listener} port ${where} is already in use (by another apikeys serve, or another program): set ${variable} to a free port, or stop what listens there`);
    case "EACCES":
      return new ListenError(`not allowed to listen on ${where} for the ${listener} port (ports below 1024 need privileges): set ${variable} to a port from 1024 up`);
    case "EADDRNOTAVAIL":
      return new ListenError(`cannot listen on ${where} for the ${listener} port: ${host} is not an address of this machine; set APIKEYS_HOST to one that is`);
    default:
      return err;
  }
}
