// tfplugin6.Provider for a ProviderDefinition: decodes values, drafts plans by Terraform's rules,
// calls the resource code, and turns every failure into diagnostics. Nothing here knows what an
// API key is.
import type { ServiceImpl } from "@connectrpc/connect";
import { Provider, type DynamicValue } from "../gen/tfplugin6/tfplugin6_pb.js";
import { DiagnosticsError, error, type Diagnostic } from "./diagnostics.js";
import type { DataSource, EphemeralResource, ManagedResource, Private, ProviderDefinition } from "./resource.js";
import { UNKNOWN, blockType, type BlockSchema, type TfObject, type TfValue } from "./schema.js";
import { attributePath, diagnosticsToProto, schemaToProto } from "./to-proto.js";
import { decodeJsonValue, decodeValue, encodeValue, valuesEqual } from "./values.js";

/** Builds the Provider service; `log` receives unexpected errors for Terraform's provider log. */
export function createProviderService<C>(def: ProviderDefinition<C>, log: (message: string) => void): Partial<ServiceImpl<typeof Provider>> {
  const resources = new Map(def.resources.map((r) => [r.typeName, r]));
  const dataSources = new Map(def.dataSources.map((d) => [d.typeName, d]));
  const ephemerals = new Map(def.ephemeralResources.map((e) => [e.typeName, e]));
  let client: C | undefined;

  function find<T>(map: Map<string, T>, typeName: string): T {
    const found = map.get(typeName);
    if (!found) throw new DiagnosticsError([error(`Unknown type ${typeName}`, `This provider offers: ${[...map.keys()].join(", ")}.`)]);
    return found;
  }

  function configured(): C {
    if (client === undefined) throw new DiagnosticsError([error("Provider not configured", "Terraform did not configure the apikeys provider before using it; run the command again.")]);
    return client;
  }

  /** Runs an RPC body; its diagnostics, or those of its failure, go into the response. */
  async function guarded<R extends object>(body: (diagnostics: Diagnostic[]) => Promise<R>): Promise<R | { diagnostics: ReturnType<typeof diagnosticsToProto> }> {
    const diagnostics: Diagnostic[] = [];
    try {
      const result = await body(diagnostics);
      return { ...result, diagnostics: diagnosticsToProto(diagnostics) };
    } catch (e) {
      if (e instanceof DiagnosticsError) return { diagnostics: diagnosticsToProto([...diagnostics, ...e.diagnostics]) };
      log(`unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      return { diagnostics: diagnosticsToProto([error("Internal error in the apikeys provider", `${e instanceof Error ? e.message : String(e)}. Please report it with the provider's log (TF_LOG=debug).`)]) };
    }
  }

  const capabilities = { planDestroy: true, getProviderSchemaOptional: true };
  const schemas = (list: readonly { typeName: string; schema: BlockSchema }[]) => Object.fromEntries(list.map((t) => [t.typeName, schemaToProto(t.schema)]));

  return {
    async getMetadata() {
      return {
        serverCapabilities: capabilities,
        resources: def.resources.map((r) => ({ typeName: r.typeName })),
        dataSources: def.dataSources.map((d) => ({ typeName: d.typeName })),
        ephemeralResources: def.ephemeralResources.map((e) => ({ typeName: e.typeName })),
      };
    },

    async getProviderSchema() {
      return {
        provider: schemaToProto(def.schema),
        resourceSchemas: schemas(def.resources),
        dataSourceSchemas: schemas(def.dataSources),
        ephemeralResourceSchemas: schemas(def.ephemeralResources),
        serverCapabilities: capabilities,
      };
    },

    validateProviderConfig: (req) =>
      guarded(async () => {
        decodeObject(req.config, def.schema);
        return {};
      }),

    validateResourceConfig: (req) =>
      guarded(async (diagnostics) => {
        const resource = find(resources, req.typeName);
        const config = decodeObject(req.config, resource.schema);
        diagnostics.push(...(resource.validate?.(config) ?? []));
        if (!req.clientCapabilities?.writeOnlyAttributesAllowed) {
          for (const [name, a] of Object.entries(resource.schema.attributes)) {
            if (a.writeOnly && config[name] !== null) {
              diagnostics.push(error("Write-only arguments need Terraform 1.11 or later", `Upgrade Terraform, or remove \`${name}\` to use classic mode.`, name));
            }
          }
        }
        return {};
      }),

    validateDataResourceConfig: (req) =>
      guarded(async () => {
        find(dataSources, req.typeName);
        return {};
      }),

    validateEphemeralResourceConfig: (req) =>
      guarded(async (diagnostics) => {
        const ephemeral = find(ephemerals, req.typeName);
        diagnostics.push(...(ephemeral.validate?.(decodeObject(req.config, ephemeral.schema)) ?? []));
        return {};
      }),

    upgradeResourceState: (req) =>
      guarded(async () => {
        // Schema version 0 is the only one so far: the state passes through, re-encoded.
        const resource = find(resources, req.typeName);
        const state = decodeJsonValue(req.rawState?.json ?? new Uint8Array(), blockType(resource.schema));
        return { upgradedState: { msgpack: encodeValue(state, blockType(resource.schema)) } };
      }),

    configureProvider: (req) =>
      guarded(async (diagnostics) => {
        const configured = await def.configure(decodeObject(req.config, def.schema));
        client = configured.client;
        diagnostics.push(...configured.warnings);
        return {};
      }),

    readResource: (req) =>
      guarded(async () => {
        const resource = find(resources, req.typeName);
        const state = decodeObject(req.currentState, resource.schema);
        const next = await resource.read(state, decodePrivate(req.private), configured());
        return { newState: encodeState(next, resource), private: req.private };
      }),

    planResourceChange: (req) =>
      guarded(async (diagnostics) => {
        const resource = find(resources, req.typeName);
        const proposed = decodeNullable(req.proposedNewState, resource.schema);
        if (proposed === null) return { plannedState: encodeState(null, resource), plannedPrivate: req.priorPrivate };
        const draft = draftPlan(resource, decodeNullable(req.priorState, resource.schema), proposed, decodeObject(req.config, resource.schema), decodePrivate(req.priorPrivate));
        const plan = resource.modifyPlan ? await resource.modifyPlan(draft, configured()) : draft;
        if ("warnings" in plan && plan.warnings) diagnostics.push(...plan.warnings);
        return {
          plannedState: encodeState(plan.planned, resource),
          requiresReplace: plan.requiresReplace.map(attributePath),
          plannedPrivate: req.priorPrivate,
        };
      }),

    applyResourceChange: (req) =>
      guarded(async (diagnostics) => {
        const resource = find(resources, req.typeName);
        const prior = decodeNullable(req.priorState, resource.schema);
        const planned = decodeNullable(req.plannedState, resource.schema);
        const priv = decodePrivate(req.plannedPrivate);
        if (planned === null) {
          if (prior !== null) await resource.delete(prior, configured());
          return { newState: encodeState(null, resource) };
        }
        const config = decodeObject(req.config, resource.schema);
        const result = prior === null
          ? await resource.create({ planned, config }, configured())
          : await resource.update({ prior, planned, config, private: priv }, configured());
        diagnostics.push(...(result.diagnostics ?? []));
        return { newState: encodeState(result.state, resource), private: encodePrivate(result.private ?? priv) };
      }),

    importResourceState: (req) =>
      guarded(async () => {
        const resource = find(resources, req.typeName);
        const { state, private: priv } = await resource.importState(req.id, configured());
        return { importedResources: [{ typeName: req.typeName, state: encodeState(state, resource), private: encodePrivate(priv ?? {}) }] };
      }),

    moveResourceState: () =>
      guarded(async () => {
        throw new DiagnosticsError([error("Moving resources is not supported", "apikeys resources cannot be moved from another resource type; import the key by id instead.")]);
      }),

    readDataSource: (req) =>
      guarded(async () => {
        const source: DataSource<C> = find(dataSources, req.typeName);
        const state = await source.read(decodeObject(req.config, source.schema), configured());
        return { state: { msgpack: encodeValue(state, blockType(source.schema)) } };
      }),

    openEphemeralResource: (req) =>
      guarded(async () => {
        const ephemeral: EphemeralResource<C> = find(ephemerals, req.typeName);
        const result = await ephemeral.open(decodeObject(req.config, ephemeral.schema), client);
        return { result: { msgpack: encodeValue(result, blockType(ephemeral.schema)) } };
      }),

    renewEphemeralResource: () => guarded(async () => ({})),
    closeEphemeralResource: () => guarded(async () => ({})),
    getFunctions: async () => ({}),
    // Ctrl-C in Terraform: abandon calls in flight, so a hung server does not hang Terraform.
    stopProvider: async () => {
      def.stop?.();
      return {};
    },
  };
}

/**
 * Terraform's proposal refined by the rules every resource shares: write-only values never enter
 * the plan; on create, computed values not set in configuration are unknown until apply; a change
 * to a replace-on attribute forces a new resource.
 */
function draftPlan<C>(resource: ManagedResource<C>, prior: TfObject | null, proposed: TfObject, config: TfObject, priv: Private) {
  const planned: Record<string, TfValue> = { ...proposed };
  for (const [name, a] of Object.entries(resource.schema.attributes)) {
    if (a.writeOnly) planned[name] = null;
    else if (prior === null && a.computed && planned[name] === null) planned[name] = UNKNOWN;
  }
  const requiresReplace = prior === null ? [] : (resource.replaceOn ?? []).filter((a) => !valuesEqual(prior[a] ?? null, planned[a] ?? null));
  return { prior, config, planned, requiresReplace, private: priv };
}

function decodeNullable(value: DynamicValue | undefined, schema: BlockSchema): TfObject | null {
  const type = blockType(schema);
  const decoded = value?.msgpack.length ? decodeValue(value.msgpack, type) : value?.json.length ? decodeJsonValue(value.json, type) : null;
  return decoded as TfObject | null;
}

function decodeObject(value: DynamicValue | undefined, schema: BlockSchema): TfObject {
  const decoded = decodeNullable(value, schema);
  if (decoded === null) throw new Error("Terraform sent an empty configuration or state object");
  return decoded;
}

/** State to send back; write-only attributes are null in every state, whatever the code set. */
function encodeState<C>(state: TfObject | null, resource: ManagedResource<C>): { msgpack: Uint8Array } {
  if (state === null) return { msgpack: encodeValue(null, blockType(resource.schema)) };
  const clean: Record<string, TfValue> = { ...state };
  for (const [name, a] of Object.entries(resource.schema.attributes)) if (a.writeOnly) clean[name] = null;
  return { msgpack: encodeValue(clean, blockType(resource.schema)) };
}

function decodePrivate(bytes: Uint8Array): Private {
  if (bytes.length === 0) return {};
  return JSON.parse(new TextDecoder().decode(bytes)) as Private;
}

function encodePrivate(priv: Private): Uint8Array {
  return Object.keys(priv).length === 0 ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(priv));
}
