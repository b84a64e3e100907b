// The provider's entry point, bundled by `npm run build:provider` into provider.cjs and started by
// launcher.cjs, which Terraform runs through the executable wrapper.
import { apikeysProvider } from "./provider.js";
import { servePlugin } from "./protocol/serve.js";

/** Serves the provider; resolves once the handshake line is written. */
export function start(): Promise<void> {
  return servePlugin(apikeysProvider);
}
