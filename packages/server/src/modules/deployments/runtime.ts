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
/** How long an arm whose load failed waits before the sync tries it again. */
const RETRY_FAILED_MS = 30_000;

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
  /** When the last load failed (failed loads are retried after {@link RETRY_FAILED_MS}). */
  failedAt = 0;
  /** Shadow copies running on this arm, counted per version: a hung version's copies do not starve the next. */
  shadow = { generation: 0, inFlight: 0 };
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
    this.shadow = { generation: this.shadow.generation + 1, inFlight: 0 };
    this.#enqueue(version);
  }

  /** Loads the wanted version again when its last load failed long enough ago (a passing storage error heals). */
  retryIfFailed(now: number): void {
    if (this.state !== "failed" || now - this.failedAt < RETRY_FAILED_MS) return;
    this.state = "loading";
    this.#enqueue(this.target);
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
          this.failedAt = Date.now();
          this.error = `version ${version}: ${msg}`;
        }
      }
    });
  }

  /** Resolves when the loads asked for so far have settled. */
  settled(): Promise<void> {
    return this.#chain;
  }

  /** Serving its wanted version, loaded and warmed. */
  get current(): boolean {
    return this.state === "ready" && this.host.current?.version === this.target;
  }

  /** Stops loading and serving; requests already taken finish first. A load in progress is not waited for (it may hang). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.host.close();
    // A load that finishes after this swaps into a closed host: close again once the chain settles.
    void this.#chain.then(() => this.host.close()).catch(() => undefined);
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
        void (this.arms.get("primary")?.settled() ?? Promise.resolve()).then(() => gone.close()).catch((e: unknown) => this.rt.logger.warn({ deployment: this.name, err: String(e) }, "closing a removed arm failed"));
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

  /**
   * Ready to take traffic: the primary (and the canary, when there is one) serves a loaded, warmed
   * version. A rollout in progress stays ready on the version it replaces, so probes do not pull
   * every replica at once; `status()` tells the rollout's progress. The shadow never answers callers.
   */
  get ready(): boolean {
    const armReady = (arm: Arm) => this.arms.get(arm)?.host.current !== undefined;
    return armReady("primary") && (this.row.versions.canary === null || armReady("canary"));
  }

  /** Retries arms whose load failed a while ago. */
  retryFailed(now: number): void {
    for (const a of this.arms.values()) a.retryIfFailed(now);
  }

  /** Each arm's state on this server, and the deployment's. */
  status(): Pick<Deployment, "state" | "arms" | "error"> {
    const spec = this.row.spec;
    const arms: ArmStatus[] = [];
    for (const arm of ARMS) {
      const h = this.arms.get(arm);
      const version = this.row.versions[arm];
      if (!h || version === null) continue;
      const ref = arm === "primary" ? spec.primary : arm === "canary" ? spec.canary : spec.shadow;
      if (!ref) continue;
      arms.push({
        arm,
        ref: ref.alias !== undefined ? { alias: ref.alias } : { version: ref.version! },
        version,
        ...(arm === "canary" ? { percent: spec.canary!.percent } : {}),
        state: h.current ? "ready" : h.state === "failed" ? "failed" : "loading",
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
    const counter = s.shadow;
    if (counter.inFlight >= SHADOW_IN_FLIGHT) {
      this.stats.shadowDropped += 1;
      return;
    }
    counter.inFlight += 1;
    const started = performance.now();
    // After the primary's answer is on its way: the shadow's work starts on a later turn.
    setImmediate(() => {
      s.host
        .infer(inputs)
        .then(
          ({ outputs, model }) => {
            const ms = performance.now() - started;
            const time = Date.now();
            this.stats.record("shadow", model.version, ms, true);
            this.logPrediction(() => ({ requestId, version: model.version, arm: "shadow", inputs: encode(inputs), outputs: encode(outputs), latencyMs: ms, status: 200, time }));
          },
          (e: unknown) => {
            this.stats.record("shadow", s.host.current?.version ?? s.target, performance.now() - started, false);
            this.rt.logger.debug({ deployment: this.name, err: e instanceof Error ? e.message : String(e) }, "shadow request failed");
          },
        )
        .finally(() => {
          counter.inFlight -= 1;
        });
    });
  }

  /** Records a prediction in the inference log (buffered; built only when sampled in and not shed). */
  logPrediction(record: () => Omit<InferenceRecord, "deployment">): void {
    this.log.log(() => ({ ...record(), deployment: this.name }));
  }

  /** Settles when {@link close} has finished. */
  closed: Promise<void> | undefined;

  close(): Promise<void> {
    this.closed ??= (async () => {
      const arms = [...this.arms.values()];
      this.arms.clear();
      await this.log.close();
      await Promise.allSettled(arms.map((a) => a.close()));
    })();
    return this.closed;
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
  /** When this server last started, changed or stopped each deployment itself (a sync that read the database earlier must not undo it). */
  readonly #touched = new Map<string, number>();
  #tick = 0;
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

  /** A logical clock for {@link sync}: read it before reading the rows a sync applies. */
  clock(): number {
    return ++this.#tick;
  }

  /** Runs a deployment at its stored revision (starts it, moves it to a newer revision, or replaces a deployment of the same name created since). */
  apply(row: DeploymentRow, local = true): LiveDeployment {
    if (local) this.#touched.set(row.name, this.clock());
    const live = this.#live.get(row.name);
    if (live && live.row.createdAt !== row.createdAt) {
      // Another deployment under the same name (deleted and created again): nothing of the old one carries over.
      this.#stop(row.name, live);
    } else if (live) {
      if (row.revision > live.row.revision) live.apply(row);
      return live;
    }
    const d = new LiveDeployment(row, this);
    this.#live.set(row.name, d);
    return d;
  }

  /** Stops a deployment: it takes no new requests at once; what it is running finishes in the background. */
  remove(name: string, local = true): void {
    if (local) this.#touched.set(name, this.clock());
    const live = this.#live.get(name);
    if (live) this.#stop(name, live);
  }

  #stop(name: string, live: LiveDeployment): void {
    this.#live.delete(name);
    this.#closing.add(live);
    void live
      .close()
      .catch((e: unknown) => this.logger.warn({ deployment: name, err: String(e) }, "stopping a deployment failed"))
      .finally(() => this.#closing.delete(live));
  }

  readonly #closing = new Set<LiveDeployment>();

  /**
   * Brings the running deployments to rows read from the database after `readAt` (from {@link clock}):
   * starts or updates each, stops the rest, and retries arms whose load failed. A deployment this
   * server created, changed or deleted itself since `readAt` is left as it is.
   */
  async sync(rows: DeploymentRow[], readAt: number): Promise<void> {
    const fresh = (name: string) => (this.#touched.get(name) ?? 0) > readAt;
    const names = new Set(rows.map((r) => r.name));
    for (const r of rows) if (!fresh(r.name)) this.apply(r, false);
    for (const n of [...this.#live.keys()]) if (!names.has(n) && !fresh(n)) this.remove(n, false);
    const now = Date.now();
    for (const d of this.#live.values()) d.retryFailed(now);
  }

  /** Stops every deployment, waiting at most `graceMs` for running requests and log flushes. */
  async close(graceMs = 5000): Promise<void> {
    for (const n of [...this.#live.keys()]) this.remove(n);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.#closing].map((d) => d.closed)), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
  }
}
