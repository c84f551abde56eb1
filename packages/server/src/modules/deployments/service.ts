import { CairnError, DEPLOYMENT_LIMITS, isCairnError, type CreateDeploymentRequest, type Deployment, type DeploymentAction, type DeploymentHistoryEntry, type DeploymentSpec, type DeploymentStats, type ModelVersion, type UpdateDeploymentRequest } from "@cairn/contract";
import type { z } from "zod";
import type * as C from "@cairn/contract";
import type { Logger } from "pino";
import { JS_FLAVOR, ONNX_FLAVOR } from "@cairn/contract/mlmodel";
import { JS_REFUSED } from "../serving/runtime.js";
import type { DeploymentRow, DeploymentStore } from "./store/deployment-store.js";
import type { Arm, DeploymentRuntime } from "./runtime.js";

/** What deployments read from the registry. */
export interface DeploymentRegistry {
  getModelVersion(name: string, version: number): Promise<ModelVersion>;
  getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion>;
}

type Versions = DeploymentRow["versions"];
type Ref = { version?: string | undefined; alias?: string | undefined };
type Next = Pick<DeploymentRow, "description" | "spec" | "versions" | "aliasSeen">;
const ARMS = ["primary", "canary", "shadow"] as const;

/** Times a change is recomputed when another change to the same deployment won the race. */
const CAS_TRIES = 5;

const refOf = (spec: DeploymentSpec, arm: Arm): Ref | null => (arm === "primary" ? spec.primary : arm === "canary" ? spec.canary : spec.shadow);
const sameRef = (a: Ref | null, b: Ref | null) => (a === null || b === null ? a === b : a.alias === b.alias && a.version === b.version);
const describeRef = (r: Ref) => (r.alias !== undefined ? `@${r.alias}` : `version ${r.version}`);

/**
 * Managed deployments: the spec and revisions in the store, the running arms in the runtime. Every
 * change is a new revision written with a compare-and-set, with its history entry (who, when, what,
 * from → to) in the same transaction, then applied to this server's runtime; other servers pick it
 * up on their next sync. Arms that follow an alias roll forward when the alias moves (as a canary
 * first with `autoRollout`).
 */
export class DeploymentService {
  readonly #store: DeploymentStore;
  readonly #registry: DeploymentRegistry;
  readonly runtime: DeploymentRuntime;
  readonly #logger: Logger;
  readonly #syncMs: number;
  readonly #allowJs: boolean;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;

  constructor(o: { store: DeploymentStore; registry: DeploymentRegistry; runtime: DeploymentRuntime; logger: Logger; syncMs?: number; allowJsModels?: boolean }) {
    this.#allowJs = o.allowJsModels ?? false;
    this.#store = o.store;
    this.#registry = o.registry;
    this.runtime = o.runtime;
    this.#logger = o.logger;
    this.#syncMs = o.syncMs ?? 2000;
  }

  /** Starts serving the stored deployments and following aliases (every `syncMs`). */
  start(): void {
    void this.tick();
    this.#timer = setInterval(() => void this.tick(), this.#syncMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#ticking;
    await this.runtime.close();
  }

  /** One round: rolls alias-following arms forward, then brings the runtime to the stored deployments. Never throws. */
  tick(): Promise<void> {
    this.#ticking ??= (async () => {
      try {
        for (const row of await this.#store.list()) await this.#followAliases(row);
        const readAt = this.runtime.clock();
        await this.runtime.sync(await this.#store.list(), readAt);
      } catch (e) {
        this.#logger.warn({ err: e instanceof Error ? e.message : String(e) }, "deployments sync failed");
      }
    })().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  // ---------- reads ----------

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async get(name: string): Promise<Deployment> {
    return this.#view(await this.#row(name));
  }

  async list(model?: string): Promise<Deployment[]> {
    return (await this.#store.list(model)).map((r) => this.#view(r));
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST (no deployment and no history under the name) */
  async history(name: string, q: z.output<typeof C.DeploymentHistoryQuery>): Promise<z.output<typeof C.DeploymentHistoryPage>> {
    const limit = q.limit ?? DEPLOYMENT_LIMITS.historyPageDefault;
    // A deployment's history starts at its own creation: an earlier deployment of the name may have been another project's.
    const row = await this.#store.get(name);
    const history = await this.#store.history(name, { limit, ...(q.before !== undefined ? { before: q.before } : {}), ...(row ? { from: row.firstRevision } : {}) });
    if (history.length === 0 && q.before === undefined) throw notFound(name);
    return history.length === limit && history[history.length - 1]!.revision > (row?.firstRevision ?? 1) ? { history, next: history[history.length - 1]!.revision } : { history };
  }

  /** Live traffic on this server. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async stats(name: string, windowSeconds: number): Promise<DeploymentStats> {
    await this.#row(name);
    const live = this.runtime.get(name);
    const snap = live ? live.stats.snapshot(windowSeconds) : { arms: [], series: [], recent: [], shadowDropped: 0 };
    return { name, windowSeconds, ...snap };
  }

  /** Names of deployments whose arms serve a model version (for the lineage graph). */
  async deploymentsOf(model: string, version: string): Promise<DeploymentRow[]> {
    return (await this.#store.list(model)).filter((r) => ARMS.some((a) => r.versions[a] === version));
  }

  /** A deployment's stored row, for lineage. */
  row(name: string): Promise<DeploymentRow | undefined> {
    return this.#store.get(name);
  }

  // ---------- changes ----------

  /**
   * Creates a deployment and starts loading its arms (`state` says when it is ready).
   * @throws CairnError RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST (model, version, alias), INVALID_PARAMETER_VALUE (a version that failed registration or is archived)
   */
  async create(req: z.output<typeof C.CreateDeploymentRequest>, actor: string): Promise<Deployment> {
    const { name, description, ...spec } = req;
    const { versions, aliasSeen } = await this.#resolve(spec, null);
    const now = Date.now();
    const row = await this.#store.create({ name, description, spec, versions, aliasSeen, createdAt: now, updatedAt: now, createdBy: actor }, { time: now, actor, action: "create", message: `created: ${summary(spec, versions)}` });
    this.runtime.apply(row);
    return this.#view(row);
  }

  /**
   * Changes a deployment: given fields replace the current ones; arms whose reference changed are
   * resolved again and load in the background. A change that changes nothing writes no revision.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE, RESOURCE_CONFLICT (changed concurrently too often)
   */
  async update(name: string, change: z.output<typeof C.UpdateDeploymentRequest>, actor: string): Promise<Deployment> {
    return this.#change(name, actor, "update", async (row) => {
      const { message, description, ...fields } = change;
      const spec: DeploymentSpec = { ...row.spec };
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) (spec as Record<string, unknown>)[k] = v;
      const resolved = await this.#resolve(spec, row);
      const next = { description: description ?? row.description, spec, ...resolved };
      // A change that changes nothing writes no revision.
      if (JSON.stringify([next.description, next.spec, next.versions]) === JSON.stringify([row.description, row.spec, row.versions])) return null;
      return { next, message: message ?? `updated: ${summary(spec, resolved.versions)}` };
    });
  }

  /**
   * Makes the canary's version the primary (following the canary's alias, when it has one) and removes the canary.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_STATE (no canary)
   */
  async promoteCanary(name: string, message: string | undefined, actor: string): Promise<Deployment> {
    return this.#change(name, actor, "promote-canary", async (row) => {
      const canary = row.spec.canary;
      const version = row.versions.canary;
      if (!canary || version === null) throw new CairnError("INVALID_STATE", `Deployment '${name}' has no canary to promote`);
      const primary = canary.alias !== undefined ? { alias: canary.alias } : { version: canary.version! };
      const aliasSeen = { ...row.aliasSeen };
      if (primary.alias !== undefined) aliasSeen.primary = row.aliasSeen.canary ?? version;
      else delete aliasSeen.primary;
      delete aliasSeen.canary;
      const next: Next = { description: row.description, spec: { ...row.spec, primary, canary: null }, versions: { ...row.versions, primary: version, canary: null }, aliasSeen };
      return { next, message: message ?? `promoted the canary: primary version ${row.versions.primary} → ${version}` };
    });
  }

  /**
   * Returns to the state of an earlier revision (by default the one before the current), as a new
   * revision. Arms following an alias keep following it from where it points now.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (deployment, revision), INVALID_STATE (nothing earlier; a version since deleted)
   */
  async rollback(name: string, opts: { toRevision?: number | undefined; message?: string | undefined }, actor: string): Promise<Deployment> {
    return this.#change(name, actor, "rollback", async (row) => {
      let target: DeploymentHistoryEntry["to"] | null;
      let to: number;
      if (opts.toRevision !== undefined) {
        if (opts.toRevision === row.revision) throw new CairnError("INVALID_PARAMETER_VALUE", `Deployment '${name}' is already at revision ${row.revision}`);
        const entry = await this.#store.historyEntry(name, opts.toRevision);
        if (!entry || opts.toRevision > row.revision || opts.toRevision < row.firstRevision) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Deployment '${name}' has no revision ${opts.toRevision}`);
        target = entry.to;
        to = opts.toRevision;
      } else {
        target = (await this.#store.historyEntry(name, row.revision))?.from ?? null;
        to = row.revision - 1;
      }
      if (!target || row.revision <= row.firstRevision) throw new CairnError("INVALID_STATE", `Deployment '${name}' has no earlier revision to roll back to`);
      if (target.spec.model !== row.spec.model) throw new CairnError("INVALID_STATE", `Cannot roll back to revision ${to}: it served another model ('${target.spec.model}')`);
      for (const arm of ARMS) {
        const v = target.versions[arm];
        if (v === null) continue;
        try {
          await this.#servable(target.spec.model, { version: v }, arm);
        } catch (e) {
          if (isCairnError(e)) throw new CairnError("INVALID_STATE", `Cannot roll back to revision ${to}: ${e.message}`);
          throw e;
        }
      }
      const aliasSeen: DeploymentRow["aliasSeen"] = {};
      for (const arm of ARMS) {
        const ref = refOf(target.spec, arm);
        if (ref?.alias === undefined) continue;
        aliasSeen[arm] = (await this.#aliasNow(target.spec.model, ref.alias)) ?? target.versions[arm]!;
      }
      return { next: { description: row.description, spec: target.spec, versions: target.versions, aliasSeen }, message: opts.message ?? `rolled back to revision ${to}: ${summary(target.spec, target.versions)}` };
    });
  }

  /** Stops and deletes a deployment; its history is kept. @throws CairnError RESOURCE_DOES_NOT_EXIST, RESOURCE_CONFLICT */
  async delete(name: string, actor: string): Promise<void> {
    for (let i = 0; i < CAS_TRIES; i++) {
      const row = await this.#row(name);
      if (await this.#store.delete(name, row.revision, { time: Date.now(), actor, action: "delete", message: "deleted" })) {
        this.runtime.remove(name);
        return;
      }
    }
    throw new CairnError("RESOURCE_CONFLICT", `Deployment '${name}' kept changing; try again`);
  }

  // ---------- internals ----------

  async #row(name: string): Promise<DeploymentRow> {
    const row = await this.#store.get(name);
    if (!row) throw notFound(name);
    return row;
  }

  #view(row: DeploymentRow): Deployment {
    const live = this.runtime.get(row.name);
    const status = live && live.row.revision === row.revision ? live.status() : { state: "loading" as const, arms: [] };
    return { name: row.name, description: row.description, spec: row.spec, revision: row.revision, createdAt: row.createdAt, updatedAt: row.updatedAt, createdBy: row.createdBy, ...status };
  }

  /** Applies a change computed from the current row, recomputing it when another change won the race. */
  async #change(name: string, actor: string, action: DeploymentAction, compute: (row: DeploymentRow) => Promise<{ next: Next; message: string } | null>): Promise<Deployment> {
    for (let i = 0; i < CAS_TRIES; i++) {
      const row = await this.#row(name);
      const change = await compute(row);
      if (change === null) return this.#view(row);
      const { next, message } = change;
      const written = await this.#store.update(name, row.revision, next, { time: Date.now(), actor, action, message });
      if (written) {
        this.runtime.apply(written);
        return this.#view(written);
      }
    }
    throw new CairnError("RESOURCE_CONFLICT", `Deployment '${name}' kept changing; try again`);
  }

  /**
   * The version each arm serves: arms whose reference is unchanged from `before` keep theirs (alias
   * moves are followed by the sync), others are resolved now and checked servable.
   */
  async #resolve(spec: DeploymentSpec, before: DeploymentRow | null): Promise<Pick<DeploymentRow, "versions" | "aliasSeen">> {
    const versions: Versions = { primary: "", canary: null, shadow: null };
    const aliasSeen: DeploymentRow["aliasSeen"] = {};
    const sameModel = before !== null && before.spec.model === spec.model;
    for (const arm of ARMS) {
      const ref = refOf(spec, arm);
      if (ref === null) continue;
      if (sameModel && sameRef(refOf(before.spec, arm), ref) && before.versions[arm] !== null) {
        versions[arm] = before.versions[arm]!;
        if (ref.alias !== undefined) aliasSeen[arm] = before.aliasSeen[arm] ?? before.versions[arm]!;
        continue;
      }
      const v = await this.#servable(spec.model, ref, arm);
      versions[arm] = v;
      if (ref.alias !== undefined) aliasSeen[arm] = v;
    }
    return { versions, aliasSeen };
  }

  async #servable(model: string, ref: Ref, arm: Arm): Promise<string> {
    let v: ModelVersion;
    try {
      v = ref.alias !== undefined ? await this.#registry.getModelVersionByAlias(model, ref.alias) : await this.#registry.getModelVersion(model, Number(ref.version));
    } catch (e) {
      if (isCairnError(e) && e.code === "RESOURCE_DOES_NOT_EXIST") throw new CairnError("RESOURCE_DOES_NOT_EXIST", `${arm}: ${e.message}`);
      throw e;
    }
    if (v.status === "FAILED_REGISTRATION") throw new CairnError("INVALID_PARAMETER_VALUE", `${arm}: version ${v.version} of '${model}' failed registration and cannot be served: ${v.statusMessage}`);
    if (v.retirement?.state === "archived") throw new CairnError("INVALID_PARAMETER_VALUE", `${arm}: version ${v.version} of '${model}' is archived and cannot be deployed`);
    const flavors = v.flavors.map((f) => f.name);
    if (!this.#allowJs && !flavors.includes(ONNX_FLAVOR) && flavors.includes(JS_FLAVOR)) throw new CairnError("INVALID_PARAMETER_VALUE", `${arm}: ${JS_REFUSED({ name: model, version: String(v.version) })}`);
    return String(v.version);
  }

  async #aliasNow(model: string, alias: string): Promise<string | undefined> {
    try {
      return String((await this.#registry.getModelVersionByAlias(model, alias)).version);
    } catch (e) {
      if (isCairnError(e) && e.code === "RESOURCE_DOES_NOT_EXIST") return undefined;
      throw e;
    }
  }

  /** Rolls a deployment forward where an alias it follows moved since it last looked (a deleted alias is left alone). */
  async #followAliases(row: DeploymentRow): Promise<void> {
    const spec = row.spec;
    let next: Next | undefined;
    const notes: string[] = [];
    let action: DeploymentAction = "alias-moved";
    for (const arm of ARMS) {
      // Arms as this round left them: a primary's move may have removed the canary that followed its alias.
      const ref = refOf(next?.spec ?? spec, arm);
      if (ref?.alias === undefined) continue;
      // A canary started by auto-rollout follows the primary's alias; the primary's move handles it.
      if (arm === "canary" && spec.autoRollout && ref.alias === spec.primary.alias) continue;
      const now = await this.#aliasNow(spec.model, ref.alias);
      const seen = row.aliasSeen[arm] ?? row.versions[arm];
      if (now === undefined || now === seen) continue;
      next ??= { description: row.description, spec: { ...spec }, versions: { ...row.versions }, aliasSeen: { ...row.aliasSeen } };
      next.aliasSeen[arm] = now;
      if (arm === "primary" && spec.autoRollout && now !== row.versions.primary) {
        action = "auto-rollout";
        next.spec.canary = { alias: ref.alias, percent: spec.autoRollout.canaryPercent };
        next.versions.canary = now;
        next.aliasSeen.canary = now;
        notes.push(`@${ref.alias} moved ${seen} → ${now}: version ${now} starts as a canary at ${spec.autoRollout.canaryPercent}%`);
      } else {
        next.versions[arm] = now;
        if (arm === "primary" && spec.canary?.alias === ref.alias) {
          next.spec.canary = null;
          next.versions.canary = null;
          delete next.aliasSeen.canary;
        }
        notes.push(`@${ref.alias} moved ${seen} → ${now}: ${arm} now serves version ${now}`);
      }
    }
    if (!next) return;
    const written = await this.#store.update(row.name, row.revision, next, { time: Date.now(), actor: "cairn", action, message: notes.join("; ") });
    if (written) {
      this.#logger.info({ deployment: row.name, revision: written.revision }, notes.join("; "));
      this.runtime.apply(written);
    }
  }
}

function notFound(name: string): CairnError {
  return new CairnError("RESOURCE_DOES_NOT_EXIST", `Deployment '${name}' not found`);
}

/** A one-line account of what a state serves, for history messages. */
function summary(spec: DeploymentSpec, v: Versions): string {
  const parts = [`primary ${describeRef(spec.primary)} (v${v.primary})`];
  if (spec.canary) parts.push(`canary ${describeRef(spec.canary)} (v${v.canary}) at ${spec.canary.percent}%`);
  if (spec.shadow) parts.push(`shadow ${describeRef(spec.shadow)} (v${v.shadow})`);
  return parts.join(", ");
}

export type { CreateDeploymentRequest, UpdateDeploymentRequest };
