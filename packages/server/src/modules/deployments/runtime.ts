import path from "node:path";
import { CairnError, type ArmStatus, type Deployment, type InferenceRecord } from "@cairn/contract";
import type { Logger } from "pino";
import { ModelHost, type PackageSource } from "../serving/model-host.js";
import { InferenceLogBuffer } from "../serving/log-buffer.js";
import type { LoadedModel, RuntimeOptions } from "../serving/runtime.js";
import type { Tensor } from "../serving/tensor.js";
import type { DeploymentRow } from "./store/deployment-store.js";
import { TrafficStats } from "./traffic-stats.js";

export type Arm = "primary" | "canary" | "shadow";
const ARMS: Arm[] = ["primary", "canary", "shadow"];

/** Shadow copies running at once per deployment; past it copies are dropped (and counted), never queued behind the primary. */
const SHADOW_IN_FLIGHT = 64;

/**
 * One arm of a live deployment: a model host and the version it should serve. Loads run one after
 * another and each checks that its version is still wanted, so the last change wins; a load that
 * fails leaves the host serving what it served before, with the error kept for the deployment.
 */
class ArmHost {
  readonly host: ModelHost;
  target: string;
  state: ArmStatus["state"] = "loading";
  error: string | undefined;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(
    readonly model: string,
    target: string,
    opts: { source: PackageSource; cacheDir: string; runtime: RuntimeOptions; batching: { maxBatchSize: number; maxLatencyMs: number } },
    readonly log: Logger,
    readonly deployment: string,
    readonly arm: Arm,
  ) {
    this.target = target;
    this.host = new ModelHost({ source: opts.source, cacheDir: opts.cacheDir, runtime: opts.runtime, batching: { ...opts.batching } });
    this.#enqueue(target);
  }

  /** Asks for `version`; nothing happens when it is already served or being loaded. */
  want(version: string): void {
    if (version === this.target) return;
    this.target = version;
    this.state = "loading";
    this.#enqueue(version);
  }

  #enqueue(version: string): void {
    this.#chain = this.#chain.then(async () => {
      if (this.#closed || this.target !== version) return;
      if (this.host.current?.version === version) {
        this.state = "ready";
        this.error = undefined;
        return;
      }
      try {
        await this.host.load(`models:/${this.model}/${version}`);
        if (this.target === version) {
          this.state = "ready";
          this.error = undefined;
        }
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        this.log.warn({ deployment: this.deployment, arm: this.arm, version, err: msg }, "deployment arm failed to load");
        if (this.target === version) {
          this.state = "failed";
          this.error = `version ${version}: ${msg}`;
        }
      }
    });
  }

  /** Resolves when the loads asked for so far have settled. */
  settled(): Promise<void> {
    return this.#chain;
  }

  get ready(): boolean {
    return this.state === "ready" && this.host.current?.version === this.target;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#chain;
    await this.host.close();
  }
}

/** A stable, uniform hash of a sticky key to [0, 100): FNV-1a, then MurmurHash3's finalizer so keys differing in one character spread over the range. */
function percentOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return ((h >>> 0) / 0x1_0000_0000) * 100;
}

/** A deployment as this server runs it: its arms, traffic split, stats and inference-log writer. */
export class LiveDeployment {
  row: DeploymentRow;
  readonly arms = new Map<Arm, ArmHost>();
  readonly stats = new TrafficStats();
  readonly log: InferenceLogBuffer;
  #shadowInFlight = 0;

  constructor(row: DeploymentRow, readonly rt: DeploymentRuntime) {
    this.row = row;
    this.log = new InferenceLogBuffer({ sink: (records) => rt.sink(this.row.spec.model, records), sample: row.spec.logSample });
    this.apply(row);
  }

  get name(): string {
    return this.row.name;
  }

  /** Brings the arms to a revision: new arms load, changed ones load their new version, removed ones close once the primary settled. */
  apply(row: DeploymentRow): void {
    const modelChanged = row.spec.model !== this.row.spec.model;
    this.row = row;
    this.log.setSample(row.spec.logSample);
    const b = row.spec.batching;
    for (const arm of ARMS) {
      const version = row.versions[arm];
      let host = this.arms.get(arm);
      if (host && (version === null || modelChanged)) {
        this.arms.delete(arm);
        const gone = host;
        // A removed arm keeps answering what it already took; it closes after the primary's pending load.
        void (this.arms.get("primary")?.settled() ?? Promise.resolve()).then(() => gone.close());
        host = undefined;
      }
      if (version === null) continue;
      if (!host) {
        this.arms.set(arm, new ArmHost(row.spec.model, version, { source: this.rt.source, cacheDir: this.rt.cacheDir, runtime: this.rt.runtimeOptions, batching: b }, this.rt.logger, row.name, arm));
        continue;
      }
      const cur = host.host.batching;
      if (!cur || cur.maxBatchSize !== b.maxBatchSize || cur.maxLatencyMs !== b.maxLatencyMs) host.host.setBatching({ ...b });
      host.want(version);
    }
  }

  /** Ready when every arm serves its version, loaded and warmed. */
  get ready(): boolean {
    return [...this.arms.values()].every((a) => a.ready);
  }

  /** Each arm's state on this server, and the deployment's. */
  status(): Pick<Deployment, "state" | "arms" | "error"> {
    const spec = this.row.spec;
    const arms: ArmStatus[] = [];
    for (const arm of ARMS) {
      const h = this.arms.get(arm);
      const version = this.row.versions[arm];
      if (!h || version === null) continue;
      const ref = arm === "primary" ? spec.primary : arm === "canary" ? spec.canary! : spec.shadow!;
      arms.push({
        arm,
        ref: ref.alias !== undefined ? { alias: ref.alias } : { version: ref.version! },
        version,
        ...(arm === "canary" ? { percent: spec.canary!.percent } : {}),
        state: h.ready ? "ready" : h.state === "failed" ? "failed" : "loading",
        servingVersion: h.host.current?.version ?? null,
        ...(h.error ? { error: h.error } : {}),
      });
    }
    const failed = arms.filter((a) => a.state === "failed");
    const primary = arms.find((a) => a.arm === "primary");
    const state: Deployment["state"] = arms.every((a) => a.state === "ready") ? "ready" : failed.length > 0 ? (primary?.servingVersion ? "degraded" : "failed") : "loading";
    return { state, arms, ...(failed.length > 0 ? { error: failed.map((a) => `${a.arm}: ${a.error}`).join("; ") } : {}) };
  }

  /**
   * The arm a request goes to: a pinned version's arm, else the canary for its share of traffic (by
   * the sticky header's hash when the request has one), else the primary. An arm with nothing loaded
   * takes no traffic.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST for a version no arm serves; TEMPORARILY_UNAVAILABLE when nothing is loaded
   */
  pick(headers: Record<string, string | string[] | undefined>, version?: string): { arm: Arm; host: ModelHost } {
    if (version !== undefined) {
      for (const arm of ["primary", "canary"] as const) {
        const h = this.arms.get(arm);
        if (h?.host.current?.version === version) return { arm, host: h.host };
      }
      throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Deployment '${this.name}' does not serve version '${version}' of '${this.row.spec.model}' (${this.#servedVersions()})`);
    }
    const canary = this.row.spec.canary;
    const c = this.arms.get("canary");
    if (canary && c?.host.current && canary.percent > 0) {
      const header = this.row.spec.stickyHeader;
      const key = header ? headers[header] : undefined;
      const r = typeof key === "string" && key !== "" ? percentOf(key) : Math.random() * 100;
      if (r < canary.percent) return { arm: "canary", host: c.host };
    }
    const p = this.arms.get("primary");
    if (p?.host.current) return { arm: "primary", host: p.host };
    if (c?.host.current) return { arm: "canary", host: c.host };
    throw new CairnError("TEMPORARILY_UNAVAILABLE", `Deployment '${this.name}' has no version loaded yet${p?.error ? ` (${p.error})` : ""}`);
  }

  #servedVersions(): string {
    const v = (["primary", "canary"] as const).map((a) => (this.arms.get(a)?.host.current ? `${a} ${this.arms.get(a)!.host.current!.version}` : undefined)).filter(Boolean);
    return v.length ? `it serves ${v.join(", ")}` : "nothing is loaded yet";
  }

  /** The model a request names, when the deployment serves it (its registered model's name or the deployment's). */
  servesModel(name: string): boolean {
    return name === this.row.spec.model || name === this.row.name;
  }

  /** Any loaded model, for metadata (the primary's first). */
  anyModel(): LoadedModel | undefined {
    return this.arms.get("primary")?.host.current ?? this.arms.get("canary")?.host.current;
  }

  /**
   * Sends a copy of a request to the shadow in the background: never awaited by the caller, bounded
   * in flight (a slow or hung shadow has its copies dropped and counted), errors only logged.
   */
  mirror(requestId: string, inputs: Tensor[], encode: (ts: Tensor[]) => unknown): void {
    const s = this.arms.get("shadow");
    if (!s?.host.current) return;
    if (this.#shadowInFlight >= SHADOW_IN_FLIGHT) {
      this.stats.shadowDropped += 1;
      return;
    }
    this.#shadowInFlight += 1;
    const started = performance.now();
    // After the primary's answer is on its way: the shadow's work starts on a later turn.
    setImmediate(() => {
      s.host
        .infer(inputs)
        .then(
          ({ outputs, model }) => {
            const ms = performance.now() - started;
            this.stats.record("shadow", model.version, ms, true);
            this.logPrediction(() => ({ requestId, version: model.version, arm: "shadow", inputs: encode(inputs), outputs: encode(outputs), latencyMs: ms, status: 200, time: Date.now() }));
          },
          (e: unknown) => {
            this.stats.record("shadow", s.host.current?.version ?? s.target, performance.now() - started, false);
            this.rt.logger.debug({ deployment: this.name, err: e instanceof Error ? e.message : String(e) }, "shadow request failed");
          },
        )
        .finally(() => {
          this.#shadowInFlight -= 1;
        });
    });
  }

  /** Records a prediction in the inference log (buffered; built only when sampled in and not shed). */
  logPrediction(record: () => Omit<InferenceRecord, "deployment">): void {
    this.log.log(() => ({ ...record(), deployment: this.name }));
  }

  async close(): Promise<void> {
    await Promise.all([...this.arms.values()].map((a) => a.close()));
    this.arms.clear();
    await this.log.close();
  }
}

export interface DeploymentRuntimeOptions {
  source: PackageSource;
  /** Where model packages are downloaded (one directory per model and version, shared by arms). */
  cacheDir: string;
  runtime?: RuntimeOptions;
  /** Where inference-log batches go (the inference log service). */
  sink: (model: string, records: InferenceRecord[]) => Promise<void>;
  logger: Logger;
}

/**
 * The deployments this server runs. `sync` brings them to the stored rows (new, changed and deleted
 * deployments), so every server sharing a database serves every deployment: replicas are stateless.
 */
export class DeploymentRuntime {
  readonly #live = new Map<string, LiveDeployment>();
  readonly source: PackageSource;
  readonly cacheDir: string;
  readonly runtimeOptions: RuntimeOptions;
  readonly logger: Logger;
  readonly sink: DeploymentRuntimeOptions["sink"];

  constructor(o: DeploymentRuntimeOptions) {
    this.source = o.source;
    this.cacheDir = path.resolve(o.cacheDir);
    this.runtimeOptions = o.runtime ?? {};
    this.logger = o.logger;
    this.sink = o.sink;
  }

  get(name: string): LiveDeployment | undefined {
    return this.#live.get(name);
  }

  all(): LiveDeployment[] {
    return [...this.#live.values()];
  }

  /** Runs a deployment at its stored revision (starts it, or moves it to a newer revision). */
  apply(row: DeploymentRow): LiveDeployment {
    const live = this.#live.get(row.name);
    if (!live) {
      const d = new LiveDeployment(row, this);
      this.#live.set(row.name, d);
      return d;
    }
    if (row.revision > live.row.revision || row.createdAt !== live.row.createdAt) live.apply(row);
    return live;
  }

  /** Stops a deployment. */
  async remove(name: string): Promise<void> {
    const live = this.#live.get(name);
    if (!live) return;
    this.#live.delete(name);
    await live.close();
  }

  /** Brings the running deployments to these rows: starts or updates each, stops the rest. */
  async sync(rows: DeploymentRow[]): Promise<void> {
    const names = new Set(rows.map((r) => r.name));
    for (const r of rows) this.apply(r);
    await Promise.all([...this.#live.keys()].filter((n) => !names.has(n)).map((n) => this.remove(n)));
  }

  async close(): Promise<void> {
    await Promise.all([...this.#live.keys()].map((n) => this.remove(n)));
  }
}
