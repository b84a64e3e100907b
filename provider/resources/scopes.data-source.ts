// apikeys_scopes: the server's scope catalog, to choose a custom key's scopes from.
import type { ApikeysClient } from "../api-client.js";
import { call } from "../api-errors.js";
import type { DataSource } from "../protocol/resource.js";

export const scopesDataSource: DataSource<ApikeysClient> = {
  typeName: "apikeys_scopes",
  schema: {
    description: "Every scope in the server's catalog, sorted by name.",
    attributes: {
      names: { type: { list: "string" }, computed: true, description: "Scope names, such as \"orders:read\"." },
      scopes: {
        type: { list: { object: { name: "string", description: "string" } } },
        computed: true,
        description: "Each scope with its description.",
      },
    },
  },

  async read(_config, client) {
    const { scopes } = await call("read the scope catalog", () => client.api.listScopes({}));
    return { names: scopes.map((s) => s.name), scopes: scopes.map((s) => ({ name: s.name, description: s.description })) };
  },
};
