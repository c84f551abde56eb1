import { CairnError, DATASET_LIMITS, DATASET_URI_PREFIX, isCairnError, type DatasetVersion, type LineageEdge, type LineageGraph, type LineageNode, type ModelVersion, type RunInfo } from "@cairn/contract";
import type { DatasetStore, RunLink } from "./store/dataset-store.js";

/** What the lineage graph reads from the tracking and registry modules. */
export interface LineageSources {
  /** A run's info; undefined when there is no such run. */
  run(runId: string): Promise<RunInfo | undefined>;
  /** Model versions registered from a run. */
  modelVersionsOfRun(runId: string): Promise<ModelVersion[]>;
  /** A model version by number or alias; undefined when missing. */
  modelVersion(name: string, versionOrAlias: string): Promise<ModelVersion | undefined>;
  /** Deployments serving a model version, with the arm each serves it on (none when deployments are not wired in). */
  deploymentsOf?(model: string, version: string): Promise<LineageDeployment[]>;
  /** A deployment by name; undefined when missing. */
  deployment?(name: string): Promise<LineageDeployment | undefined>;
}

/** A deployment as the lineage graph shows it: its model and the version on each arm. */
export interface LineageDeployment {
  name: string;
  model: string;
  versions: { primary: string; canary: string | null; shadow: string | null };
}

/** Which projects a node lives in, to hide what the caller may not read (undefined: no restriction). */
export interface LineageVisibility {
  projects: ReadonlySet<string>;
  dataset(name: string): Promise<string | undefined>;
  experiment(id: string): Promise<string | undefined>;
  model(name: string): Promise<string | undefined>;
}

type NodeRef = { kind: "dataset"; version: DatasetVersion } | { kind: "run"; info: RunInfo } | { kind: "model"; version: ModelVersion } | { kind: "deployment"; deployment: LineageDeployment };

const datasetId = (v: DatasetVersion) => `dataset:${v.dataset}@v${v.number}`;
const modelId = (v: ModelVersion) => `model:${v.name}/${v.version}`;

/**
 * The lineage graph: dataset versions, runs, model versions and deployments, joined by run links (a
 * dataset version a run consumed or produced), by model versions' source runs, and by the versions
 * a deployment's arms serve. Upstream walks toward
 * the data a node came from, downstream toward what was made from it; `both` walks each way from
 * the root (not sideways through siblings). Nodes the caller cannot read are left out, and the walk
 * does not pass through them.
 */
export class LineageService {
  readonly #store: DatasetStore;
  readonly #src: LineageSources;

  constructor(store: DatasetStore, sources: LineageSources) {
    this.#store = store;
    this.#src = sources;
  }

  /**
   * The graph around `node` (`dataset:NAME@REF`, `run:ID`, `model:NAME/VERSION` or the `datasets:/`,
   * `runs:/`, `models:/` URIs) to `depth` hops.
   * @throws CairnError INVALID_PARAMETER_VALUE for a malformed node; RESOURCE_DOES_NOT_EXIST when it does not exist (or cannot be read)
   */
  async graph(q: { node: string; direction: "upstream" | "downstream" | "both"; depth: number }, visibility?: LineageVisibility): Promise<LineageGraph> {
    // With projects in play, every way a root can fail to resolve reads the same as one hidden from the
    // caller, so the answer tells nothing about other projects' datasets, runs or models.
    const hidden = () => new CairnError("RESOURCE_DOES_NOT_EXIST", `${q.node} not found`);
    let root: NodeRef;
    try {
      root = await this.#resolve(q.node);
    } catch (e) {
      if (visibility && isCairnError(e) && !(e as { syntax?: boolean }).syntax) throw hidden();
      throw e;
    }
    if (!(await this.#visible(root, visibility))) throw hidden();
    const nodes = new Map<string, LineageNode>();
    const edges = new Map<string, LineageEdge>();
    nodes.set(idOf(root), nodeOf(root));
    let truncated = false;
    const walks: ("upstream" | "downstream")[] = q.direction === "both" ? ["upstream", "downstream"] : [q.direction];
    for (const dir of walks) {
      let frontier: NodeRef[] = [root];
      const seen = new Set<string>([idOf(root)]);
      for (let d = 0; d < q.depth && frontier.length > 0; d++) {
        const next: NodeRef[] = [];
        // Hidden neighbours cost lookups too, so the work per hop is bounded, not just the answer.
        const hop = await this.#neighbors(frontier, dir, 2 * DATASET_LIMITS.lineageNodesMax);
        if (hop.cut) truncated = true;
        for (const { node, edge } of hop.out) {
          if (!(await this.#visible(node, visibility))) continue;
          const id = idOf(node);
          if (!nodes.has(id)) {
            if (nodes.size >= DATASET_LIMITS.lineageNodesMax) {
              truncated = true;
              continue;
            }
            nodes.set(id, nodeOf(node));
          }
          edges.set(`${edge.from}|${edge.to}|${edge.kind}`, edge);
          if (!seen.has(id)) {
            seen.add(id);
            next.push(node);
          }
        }
        frontier = next;
      }
    }
    return { root: idOf(root), nodes: [...nodes.values()], edges: [...edges.values()], truncated };
  }

  async #resolve(node: string): Promise<NodeRef> {
    const bad = () => Object.assign(new CairnError("INVALID_PARAMETER_VALUE", `Cannot read lineage node '${node}': expected dataset:NAME@VERSION, run:RUN_ID, model:NAME/VERSION or deployment:NAME`), { syntax: true });
    let m: RegExpExecArray | null;
    if ((m = /^(?:dataset:|datasets:\/)([^@/]+)(?:@(.+))?$/.exec(node))) {
      const v = await this.#store.resolveVersion(m[1]!, m[2] ?? "latest");
      if (!v) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Dataset '${m[1]}' has no version '${m[2] ?? "latest"}'`);
      return { kind: "dataset", version: v };
    }
    if ((m = /^(?:run:|runs:\/+)([^/]+)\/?$/.exec(node))) {
      const info = await this.#src.run(m[1]!);
      if (!info) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Run '${m[1]}' not found`);
      return { kind: "run", info };
    }
    if ((m = /^(?:model:|models:\/)(.+?)(?:\/([^/@]+)|@([^/@]+))$/.exec(node))) {
      const v = await this.#src.modelVersion(m[1]!, m[2] ?? `@${m[3]}`);
      if (!v) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Model version '${node}' not found`);
      return { kind: "model", version: v };
    }
    if ((m = /^deployment:(.+)$/.exec(node))) {
      const d = await this.#src.deployment?.(m[1]!);
      if (!d) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Deployment '${m[1]}' not found`);
      return { kind: "deployment", deployment: d };
    }
    throw bad();
  }

  /** One hop from every node of a frontier, batched by kind, stopping after `budget` neighbours (`cut`). */
  async #neighbors(frontier: NodeRef[], dir: "upstream" | "downstream", budget: number): Promise<{ out: { node: NodeRef; edge: LineageEdge }[]; cut: boolean }> {
    const out: { node: NodeRef; edge: LineageEdge }[] = [];
    const full = () => out.length >= budget;
    const datasets = frontier.filter((n): n is Extract<NodeRef, { kind: "dataset" }> => n.kind === "dataset");
    const runs = frontier.filter((n): n is Extract<NodeRef, { kind: "run" }> => n.kind === "run");
    const models = frontier.filter((n): n is Extract<NodeRef, { kind: "model" }> => n.kind === "model");
    const deployments = frontier.filter((n): n is Extract<NodeRef, { kind: "deployment" }> => n.kind === "deployment");
    const ctx = (l: RunLink) => (l.context ? { context: l.context } : {});

    if (datasets.length) {
      const byId = new Map(datasets.map((d) => [d.version.id, d.version]));
      const want = dir === "downstream" ? "input" : "output";
      for (const l of await this.#store.runLinks({ versionIds: [...byId.keys()] })) {
        if (full()) return { out, cut: true };
        if (l.direction !== want) continue;
        const info = await this.#src.run(l.runId);
        if (!info) continue;
        const v = byId.get(l.versionId)!;
        const runNode: NodeRef = { kind: "run", info };
        out.push({ node: runNode, edge: want === "input" ? { from: datasetId(v), to: `run:${info.runId}`, kind: "input", ...ctx(l) } : { from: `run:${info.runId}`, to: datasetId(v), kind: "output", ...ctx(l) } });
      }
    }
    if (runs.length) {
      const want = dir === "downstream" ? "output" : "input";
      for (const l of await this.#store.runLinks({ runIds: runs.map((r) => r.info.runId) })) {
        if (full()) return { out, cut: true };
        if (l.direction !== want) continue;
        const v = await this.#store.getVersionById(l.versionId);
        if (!v) continue;
        out.push({ node: { kind: "dataset", version: v }, edge: want === "output" ? { from: `run:${l.runId}`, to: datasetId(v), kind: "output", ...ctx(l) } : { from: datasetId(v), to: `run:${l.runId}`, kind: "input", ...ctx(l) } });
      }
      if (dir === "downstream") {
        for (const r of runs) {
          if (full()) return { out, cut: true };
          for (const mv of await this.#src.modelVersionsOfRun(r.info.runId)) out.push({ node: { kind: "model", version: mv }, edge: { from: `run:${r.info.runId}`, to: modelId(mv), kind: "model" } });
        }
      }
    }
    if (models.length && dir === "upstream") {
      for (const m of models) {
        if (full()) return { out, cut: true };
        if (!m.version.runId) continue;
        const info = await this.#src.run(m.version.runId);
        if (info) out.push({ node: { kind: "run", info }, edge: { from: `run:${info.runId}`, to: modelId(m.version), kind: "model" } });
      }
    }
    if (models.length && dir === "downstream" && this.#src.deploymentsOf) {
      for (const m of models) {
        for (const d of await this.#src.deploymentsOf(m.version.name, m.version.version)) {
          if (full()) return { out, cut: true };
          for (const arm of ["primary", "canary", "shadow"] as const) {
            if (d.versions[arm] === m.version.version) out.push({ node: { kind: "deployment", deployment: d }, edge: { from: modelId(m.version), to: `deployment:${d.name}`, kind: "deployment", context: arm } });
          }
        }
      }
    }
    if (deployments.length && dir === "upstream") {
      for (const { deployment: d } of deployments) {
        for (const arm of ["primary", "canary", "shadow"] as const) {
          const v = d.versions[arm];
          if (v === null) continue;
          if (full()) return { out, cut: true };
          const mv = await this.#src.modelVersion(d.model, v);
          if (mv) out.push({ node: { kind: "model", version: mv }, edge: { from: modelId(mv), to: `deployment:${d.name}`, kind: "deployment", context: arm } });
        }
      }
    }
    return { out, cut: false };
  }

  async #visible(n: NodeRef, vis: LineageVisibility | undefined): Promise<boolean> {
    if (!vis) return true;
    const project = n.kind === "dataset" ? await vis.dataset(n.version.dataset) : n.kind === "run" ? await vis.experiment(n.info.experimentId) : n.kind === "model" ? await vis.model(n.version.name) : await vis.model(n.deployment.model);
    return project !== undefined && vis.projects.has(project);
  }
}

function idOf(n: NodeRef): string {
  return n.kind === "dataset" ? datasetId(n.version) : n.kind === "run" ? `run:${n.info.runId}` : n.kind === "model" ? modelId(n.version) : `deployment:${n.deployment.name}`;
}

function nodeOf(n: NodeRef): LineageNode {
  switch (n.kind) {
    case "dataset":
      return { id: idOf(n), kind: "dataset", label: `${n.version.dataset}@v${n.version.number}`, attrs: { dataset: n.version.dataset, version: String(n.version.number), digest: n.version.digest, validation: n.version.validation.status, uri: `${DATASET_URI_PREFIX}${n.version.dataset}@v${n.version.number}` } };
    case "run":
      return { id: idOf(n), kind: "run", label: n.info.runName || n.info.runId, attrs: { runId: n.info.runId, experimentId: n.info.experimentId, status: n.info.status } };
    case "model":
      return { id: idOf(n), kind: "model", label: `${n.version.name}/${n.version.version}`, attrs: { model: n.version.name, version: n.version.version, status: n.version.status } };
    case "deployment": {
      const v = n.deployment.versions;
      return { id: idOf(n), kind: "deployment", label: n.deployment.name, attrs: { deployment: n.deployment.name, model: n.deployment.model, primary: v.primary, ...(v.canary !== null ? { canary: v.canary } : {}), ...(v.shadow !== null ? { shadow: v.shadow } : {}) } };
    }
  }
}

/** Lineage sources over the tracking and registry services' public methods. */
export function serviceLineageSources(tracking: { getRunInfo(id: string): Promise<RunInfo> }, registry: { searchModelVersions(req: { filter?: string; maxResults?: number }): Promise<{ modelVersions: ModelVersion[] }>; getModelVersion(name: string, version: number): Promise<ModelVersion>; getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion> }): LineageSources {
  const missingAsUndefined = async <T>(p: Promise<T>): Promise<T | undefined> => {
    try {
      return await p;
    } catch (e) {
      if (isCairnError(e) && (e.code === "RESOURCE_DOES_NOT_EXIST" || e.code === "INVALID_PARAMETER_VALUE")) return undefined;
      throw e;
    }
  };
  return {
    run: (id) => missingAsUndefined(tracking.getRunInfo(id)),
    async modelVersionsOfRun(runId) {
      return (await registry.searchModelVersions({ filter: `run_id = '${runId.replace(/'/g, "''")}'`, maxResults: 1000 })).modelVersions;
    },
    modelVersion: (name, v) => missingAsUndefined(v.startsWith("@") ? registry.getModelVersionByAlias(name, v.slice(1)) : /^\d+$/.test(v) ? registry.getModelVersion(name, Number(v)) : Promise.reject(new CairnError("INVALID_PARAMETER_VALUE", `bad version '${v}'`))),
  };
}
