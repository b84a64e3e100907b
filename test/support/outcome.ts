import { ConnectError, type Code } from "@connectrpc/connect";

/** "ok" when the call succeeds, else its Connect code: for tables of expected outcomes. */
export async function outcomeOf(call: Promise<unknown>): Promise<"ok" | Code> {
  try {
    await call;
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}
