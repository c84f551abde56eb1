import type { AliasHistoryEntry, ModelCard, ModelFlavor, ModelSignature, ModelStage, ModelVersion, ModelVersionStatus, RegisteredModel, Retirement } from "@cairn/contract";
import type { RegistryFilterTerm, RegistryOrderKey } from "../search.js";
import type { PromotionStore } from "./promotion-store.js";

export interface NewRegisteredModel {
  name: string;
  description: string;
  tags: Record<string, string>;
  userId: string;
  time: number;
}

export interface NewModelVersion {
  name: string;
  source: string;
  runId: string;
  runLink: string;
  description: string;
  tags: Record<string, string>;
  userId: string;
  time: number;
  /** Stored with the version in the same transaction (default: none). */
  signature?: ModelSignature | null;
  /** Registration outcome (default READY, ""): FAILED_REGISTRATION when its package did not validate. */
  status?: ModelVersionStatus;
  statusMessage?: string;
  /** The flavors of its MLmodel package (default: none). */
  flavors?: ModelFlavor[];
}

/** A registered model's stored card. */
export interface StoredModelCard {
  name: string;
  card: ModelCard;
  lastUpdatedTimestamp: number;
}

export interface ModelVersionPatch {
  description?: string;
  stage?: ModelStage;
  /** With `stage` Staging or Production: move the other versions in that stage to Archived. */
  archiveExistingVersions?: boolean;
  time: number;
}

export interface RegistrySearchQuery {
  /** Only models (and their versions) of these projects (the model's `cairn.project` tag, `default` without one); undefined: all. */
  projects?: readonly string[] | undefined;
  filter: RegistryFilterTerm[];
  orderBy: RegistryOrderKey[];
  offset: number;
  /** Rows to return; stores return up to `limit` (callers ask for one more to detect a next page). */
  limit: number;
}

/** Who changed something, and when. */
export interface Change {
  actor: string;
  time: number;
}

/** The parts of a registered model a change usually touches. */
export interface ModelState {
  description: string;
  tags: Record<string, string>;
  /** Alias → version. */
  aliases: Record<string, string>;
}

/** Which object a tag belongs to: a registered model, or one of its versions. */
export interface TagTarget {
  name: string;
  version?: number;
}

/**
 * Storage of registered models, versions, tags and aliases. Every method is atomic. Errors are
 * `CairnError`s: RESOURCE_DOES_NOT_EXIST for a missing model, version or alias;
 * RESOURCE_ALREADY_EXISTS for a duplicate model name (also when two creators race).
 */
export interface RegistryStore {
  readonly backend: "sqlite" | "postgres";
  createRegisteredModel(input: NewRegisteredModel): Promise<RegisteredModel>;
  getRegisteredModel(name: string): Promise<RegisteredModel | undefined>;
  /** A model's description, tags and aliases in one query (for the audit log's before/after); undefined when it does not exist. */
  getModelState(name: string): Promise<ModelState | undefined>;
  /** Renames a model; its versions, tags, aliases and alias history move with it. */
  updateRegisteredModel(name: string, patch: { newName?: string; description?: string; time: number }): Promise<RegisteredModel>;
  /** Deletes a model with its versions, tags, aliases and alias history. */
  deleteRegisteredModel(name: string): Promise<void>;
  searchRegisteredModels(query: RegistrySearchQuery): Promise<RegisteredModel[]>;

  /** Creates version max+1 of the model (numbers are never reused, even after deletes). */
  createModelVersion(input: NewModelVersion): Promise<ModelVersion>;
  getModelVersion(name: string, version: number): Promise<ModelVersion | undefined>;
  updateModelVersion(name: string, version: number, patch: ModelVersionPatch): Promise<ModelVersion>;
  /**
   * Deletes a version; each alias that pointed at it is deleted and recorded in the alias history.
   * PERMISSION_DENIED when a protected alias points at it.
   */
  deleteModelVersion(name: string, version: number, change: Change): Promise<void>;
  searchModelVersions(query: RegistrySearchQuery): Promise<ModelVersion[]>;

  setTag(target: TagTarget, key: string, value: string, time: number): Promise<void>;
  deleteTag(target: TagTarget, key: string): Promise<void>;

  /** Sets (null: clears) a version's signature. */
  setSignature(name: string, version: number, signature: ModelSignature | null, time: number): Promise<ModelVersion>;
  /**
   * Sets (null: clears) a version's retirement. Aliases on the version stay, also when it is archived.
   */
  setRetirement(name: string, version: number, retirement: Retirement | null, time: number): Promise<ModelVersion>;
  /** The model's card; undefined when none was set. RESOURCE_DOES_NOT_EXIST for an unknown model. */
  getCard(name: string): Promise<StoredModelCard | undefined>;
  /** Replaces the model's card. */
  setCard(name: string, card: ModelCard, time: number): Promise<StoredModelCard>;

  /**
   * Points an alias at an existing version, recording the change. A protected alias (the model's
   * promotion policy) is PERMISSION_DENIED, and nothing changes: it moves only through `promotions.approve`.
   */
  setAlias(name: string, alias: string, version: number, change: Change): Promise<void>;
  /** Deletes an alias, recording the change; PERMISSION_DENIED for a protected alias. */
  deleteAlias(name: string, alias: string, change: Change): Promise<void>;
  /** The alias's changes, newest first. */
  getAliasHistory(name: string, alias: string): Promise<AliasHistoryEntry[]>;

  /** Promotion policies and requests (same database; rename and delete of a model carry them). */
  readonly promotions: PromotionStore;

  close(): Promise<void>;
}
