// The example host's dev server and build. API calls go to the page's own origin and are proxied
// to the apikeys server's HTTP port (APIKEYS_URL), as a host product's gateway would route them.
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  server: {
    host: "127.0.0.1",
    proxy: { "/apikeys.v1.": process.env.APIKEYS_URL ?? "http://127.0.0.1:8080" },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    // "use client" directives of React libraries mean nothing in a browser bundle.
    rolldownOptions: { onwarn: (warning, warn) => void (warning.code === "MODULE_LEVEL_DIRECTIVE" || warn(warning)) },
  },
  logLevel: "warn",
});
