// @apikeys/web: the API keys settings page, for a host product to mount in its own settings.
//
//   import { ApiKeysPage } from "@apikeys/web";
//   import "@apikeys/web/styles.css";
//   <ApiKeysPage transport={createConnectTransport({ baseUrl, interceptors: [auth] })} />
export { ApiKeysPage, type ApiKeysPageProps } from "./api-keys-page.js";
export { LegacyKeysPage, type LegacyKeysPageProps } from "./support/legacy-keys-page.js";
export { createPageQueryClient, type StylingProps, type ThemeVariable } from "./ui/page-root.js";
