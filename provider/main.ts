// The provider's entry point, bundled by `npm run build:provider` into provider.cjs and started by
// launcher.cjs, which Terraform runs through the executable wrapper.
import { servePlugin } from "./protocol/serve.js";

/** Serves the provider; resolves once it is ready for Terraform's calls. */
export function start(): Promise<void> {
  return servePlugin(async () => (await import("./provider.js")).apikeysProvider);
}
