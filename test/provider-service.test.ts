// The protocol layer's own rules, through tfplugin6 messages and a small resource written for the
// test: how plans are drafted, that write-only values never come back, and how failures become
// diagnostics. Terraform itself drives the real resources in provider-acceptance.test.ts.
import { createRouterTransport, createClient } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Diagnostic_Severity, Provider } from "../provider/gen/tfplugin6/tfplugin6_pb.js";
import { DiagnosticsError, error } from "../provider/protocol/diagnostics.js";
import { createProviderService } from "../provider/protocol/provider-service.js";
import type { ManagedResource, ProviderDefinition } from "../provider/protocol/resource.js";
import { UNKNOWN, blockType, type TfObject } from "../provider/protocol/schema.js";
import { decodeValue, encodeValue } from "../provider/protocol/values.js";

const deleted: string[] = [];
const widget: ManagedResource<string> = {
  typeName: "test_widget",
  schema: {
    description: "A widget.",
    attributes: {
      id: { type: "string", computed: true, description: "Id." },
      name: { type: "string", required: true, description: "Name." },
      password_wo: { type: "string", optional: true, writeOnly: true, sensitive: true, description: "Write-only." },
      generation: { type: "number", optional: true, description: "Replaces on change." },
    },
  },
  replaceOn: ["generation"],
  async create({ planned, config }) {
    if (planned.name === "boom") throw new Error("kaput");
    if (planned.name === "refused") throw new DiagnosticsError([error("Refused", "Pick another name.", "name")]);
    // Returns the write-only value on purpose: the protocol layer must drop it.
    return { state: { ...planned, id: "w1", password_wo: config.password_wo ?? null } };
  },
  async read(state) {
    return state;
  },
  async update({ planned }) {
    return { state: planned };
  },
  async delete(prior) {
    deleted.push(String(prior.id));
  },
  async importState(id) {
    return { state: { id, name: "imported", password_wo: null, generation: null } };
  },
};
const definition: ProviderDefinition<string> = {
  schema: { description: "Test.", attributes: {} },
  configure: async () => ({ client: "client", warnings: [] }),
  resources: [widget],
  dataSources: [],
  ephemeralResources: [],
};

const type = blockType(widget.schema);
const dv = (value: TfObject | null) => ({ msgpack: encodeValue(value, type) });
const value = (d: { msgpack: Uint8Array } | undefined) => decodeValue(d!.msgpack, type) as TfObject | null;

async function provider() {
  const transport = createRouterTransport(({ service }) => service(Provider, createProviderService(definition, () => {})));
  const client = createClient(Provider, transport);
  await client.configureProvider({ config: { msgpack: encodeValue({}, { object: {} }) } });
  return client;
}

describe("PlanResourceChange", () => {
  it("on create, plans computed values unknown and write-only values null", async () => {
    const p = await provider();
    const config = { id: null, name: "a", password_wo: "hunter2", generation: 1 };
    const res = await p.planResourceChange({ typeName: "test_widget", priorState: dv(null), proposedNewState: dv(config), config: dv(config) });
    expect(res.diagnostics).toEqual([]);
    expect(value(res.plannedState)).toEqual({ id: UNKNOWN, name: "a", password_wo: null, generation: 1 });
    expect(res.requiresReplace).toEqual([]);
  });

  it("on update, asks for replacement when a replace-on attribute changes, and only then", async () => {
    const p = await provider();
    const prior = { id: "w1", name: "a", password_wo: null, generation: 1 };
    const renamed = { ...prior, name: "b" };
    const same = await p.planResourceChange({ typeName: "test_widget", priorState: dv(prior), proposedNewState: dv(renamed), config: dv(renamed) });
    expect(same.requiresReplace).toEqual([]);
    const bumped = { ...prior, generation: 2 };
    const replaced = await p.planResourceChange({ typeName: "test_widget", priorState: dv(prior), proposedNewState: dv(bumped), config: dv(bumped) });
    expect(replaced.requiresReplace.map((path) => path.steps.map((s) => s.selector.value))).toEqual([["generation"]]);
  });
});

describe("ApplyResourceChange", () => {
  it("never returns a write-only value in the new state, even when the resource does", async () => {
    const p = await provider();
    const planned: TfObject = { id: UNKNOWN, name: "a", password_wo: null, generation: null };
    const res = await p.applyResourceChange({ typeName: "test_widget", priorState: dv(null), plannedState: dv(planned), config: dv({ ...planned, id: null, password_wo: "hunter2" }) });
    expect(value(res.newState)).toEqual({ id: "w1", name: "a", password_wo: null, generation: null });
  });

  it("deletes when the planned state is null", async () => {
    const p = await provider();
    const res = await p.applyResourceChange({ typeName: "test_widget", priorState: dv({ id: "w9", name: "a", password_wo: null, generation: null }), plannedState: dv(null), config: dv(null) });
    expect(value(res.newState)).toBeNull();
    expect(deleted).toContain("w9");
  });

  it("returns a resource's diagnostics, with the attribute they point at", async () => {
    const p = await provider();
    const planned: TfObject = { id: UNKNOWN, name: "refused", password_wo: null, generation: null };
    const res = await p.applyResourceChange({ typeName: "test_widget", priorState: dv(null), plannedState: dv(planned), config: dv({ ...planned, id: null }) });
    expect(res.diagnostics.map((d) => [d.severity, d.summary, d.detail, d.attribute?.steps[0]?.selector.value])).toEqual([[Diagnostic_Severity.ERROR, "Refused", "Pick another name.", "name"]]);
  });

  it("turns an unexpected exception into an error diagnostic instead of failing the call", async () => {
    const p = await provider();
    const planned: TfObject = { id: UNKNOWN, name: "boom", password_wo: null, generation: null };
    const res = await p.applyResourceChange({ typeName: "test_widget", priorState: dv(null), plannedState: dv(planned), config: dv({ ...planned, id: null }) });
    expect(res.diagnostics[0]?.summary).toBe("Internal error in the apikeys provider");
    expect(res.diagnostics[0]?.detail).toContain("kaput");
  });
});

describe("unknown types and unconfigured use", () => {
  it("answers an unknown resource type with a diagnostic listing the known ones", async () => {
    const p = await provider();
    const res = await p.readResource({ typeName: "test_gadget", currentState: dv({ id: "w1", name: "a", password_wo: null, generation: null }) });
    expect(res.diagnostics.map((d) => [d.summary, d.detail])).toEqual([["Unknown type test_gadget", "This provider offers: test_widget."]]);
  });

  it("refuses to read before Terraform configured the provider", async () => {
    const unconfigured = createClient(Provider, createRouterTransport(({ service }) => service(Provider, createProviderService(definition, () => {}))));
    const res = await unconfigured.readResource({ typeName: "test_widget", currentState: dv({ id: "w1", name: "a", password_wo: null, generation: null }) });
    expect(res.diagnostics[0]?.summary).toBe("Provider not configured");
  });
});
