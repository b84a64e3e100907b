// The provider executable: Terraform runs it (through the wrapper script made by
// `npm run build:provider`) and speaks tfplugin6 to it.
import { apikeysProvider } from "./provider.js";
import { servePlugin } from "./protocol/serve.js";

await servePlugin(apikeysProvider);
