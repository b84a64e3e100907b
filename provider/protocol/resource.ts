// What the protocol layer asks of a provider and of each resource type. Resources see only
// decoded values (TfObject) and the configured client; the protocol layer owns msgpack, schemas,
// the generic planning rules and the conversion of errors into diagnostics.
import type { Diagnostic } from "./diagnostics.js";
import type { BlockSchema, TfObject } from "./schema.js";

/** Provider-private data kept by Terraform next to the state, never shown to users. */
export type Private = Readonly<Record<string, unknown>>;

/** A plan as the protocol layer drafted it, for a resource to refine. */
export interface DraftPlan {
  /** The prior state; null when the resource is being created (or re-created on replacement). */
  readonly prior: TfObject | null;
  readonly config: TfObject;
  /** Terraform's proposal, with write-only attributes nulled and unset computed values unknown. */
  readonly planned: TfObject;
  /** Top-level attributes whose change forces replacement. */
  readonly requiresReplace: readonly string[];
  readonly private: Private;
}

/**
 * The outcome of a create or update. `diagnostics` reports a partial failure along with the state
 * reached, so that Terraform records what exists (an error among them still fails the apply).
 */
export interface Applied {
  readonly state: TfObject;
  readonly private?: Private;
  readonly diagnostics?: readonly Diagnostic[];
}

/** A managed resource type, such as apikeys_api_key. */
export interface ManagedResource<Client> {
  readonly typeName: string;
  readonly schema: BlockSchema;
  /** Attributes whose change replaces the resource instead of updating it. */
  readonly replaceOn?: readonly string[];
  /** Checks the configuration without the server; values may be unknown. */
  validate?(config: TfObject): Diagnostic[];
  /** Refines the drafted plan, for example with server-side checks; may throw DiagnosticsError. Warnings show in the plan. */
  modifyPlan?(draft: DraftPlan, client: Client): Promise<Pick<DraftPlan, "planned" | "requiresReplace"> & { warnings?: readonly Diagnostic[] }>;
  create(change: { planned: TfObject; config: TfObject }, client: Client): Promise<Applied>;
  /** The current state, or null when the object no longer exists (Terraform then plans to create it). */
  read(state: TfObject, priv: Private, client: Client): Promise<TfObject | null>;
  update(change: { prior: TfObject; planned: TfObject; config: TfObject; private: Private }, client: Client): Promise<Applied>;
  delete(prior: TfObject, client: Client): Promise<void>;
  /** A state for `terraform import`; Terraform reads it right after. */
  importState(id: string, client: Client): Promise<{ state: TfObject; private?: Private }>;
}

/** A data source, such as apikeys_scopes. */
export interface DataSource<Client> {
  readonly typeName: string;
  readonly schema: BlockSchema;
  read(config: TfObject, client: Client): Promise<TfObject>;
}

/** An ephemeral resource, such as apikeys_key_material: its values never reach plan or state. */
export interface EphemeralResource<Client> {
  readonly typeName: string;
  readonly schema: BlockSchema;
  validate?(config: TfObject): Diagnostic[];
  open(config: TfObject, client: Client | undefined): Promise<TfObject>;
}

/** A whole provider: its configuration and its types. */
export interface ProviderDefinition<Client> {
  readonly schema: BlockSchema;
  /** Builds the client from the configuration; may throw DiagnosticsError (a wrong endpoint or token). */
  configure(config: TfObject): Promise<{ client: Client; warnings: Diagnostic[] }>;
  /** Terraform asked to stop (Ctrl-C): abandon work in flight. */
  stop?(): void;
  readonly resources: readonly ManagedResource<Client>[];
  readonly dataSources: readonly DataSource<Client>[];
  readonly ephemeralResources: readonly EphemeralResource<Client>[];
}
