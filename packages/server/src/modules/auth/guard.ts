import type { FastifyReply, FastifyRequest } from "fastify";
import { AUTH_LIMITS, CairnError, DEFAULT_PROJECT, PROJECT_TAG, type Permission } from "@cairn/contract";
import { holds, holdsAnywhere, principalOf, type Principal } from "../../platform/auth/principal.js";
import type { RequestGuard } from "../../platform/http/app.js";
import { MLFLOW_READ_POSTS, permissionOf } from "../../platform/http/route-permission.js";
import type { AuthService } from "./service.js";

/** Finds the project a resource lives in; undefined when the resource does not exist. */
export interface ProjectLookups {
  experiment(id: string): Promise<string | undefined>;
  experimentByName(name: string): Promise<string | undefined>;
  run(id: string): Promise<string | undefined>;
  model(name: string): Promise<string | undefined>;
  /** A promotion request's project: its model's. */
  promotion(id: string): Promise<string | undefined>;
  dataset(name: string): Promise<string | undefined>;
  /** A deployment's project: its model's. */
  deployment(name: string): Promise<string | undefined>;
}

/** What a request acts on, for authorization. */
export type Target =
  | { kind: "none" }
  | { kind: "project"; project: string }
  | { kind: "experiment"; id: string }
  | { kind: "experimentName"; name: string }
  | { kind: "run"; id: string }
  | { kind: "runs"; ids: string[] }
  | { kind: "model"; name: string }
  | { kind: "promotion"; id: string }
  | { kind: "dataset"; name: string }
  | { kind: "deployment"; name: string }
  | { kind: "adminOnly" };

const NONE: Target = { kind: "none" };
const MLFLOW_PREFIXES = ["/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"];
const MLFLOW_ARTIFACT_PREFIXES = ["/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/"];

type Loose = Record<string, unknown> | undefined;
const str = (v: unknown): string | undefined => (typeof v === "string" && v.length > 0 ? v : typeof v === "number" ? String(v) : undefined);

/**
 * A project named by a create request's tags: a `{key: value}` map (native) or `[{key, value}]`
 * (MLflow). With the key repeated, the last one counts, as it does when the tags are stored.
 */
export function projectFromTags(tags: unknown): string {
  if (Array.isArray(tags)) {
    let project = DEFAULT_PROJECT;
    for (const t of tags) if (t && typeof t === "object" && (t as Loose)!.key === PROJECT_TAG) project = str((t as Loose)!.value) ?? DEFAULT_PROJECT;
    return project;
  }
  if (tags && typeof tags === "object") return str((tags as Record<string, unknown>)[PROJECT_TAG]) ?? DEFAULT_PROJECT;
  return DEFAULT_PROJECT;
}

const PROJECT_TAG_ROUTES = /^\/api\/v1\/(experiments\/:id|models\/:name)\/tags$|\/(experiments\/(set|delete)-experiment-tag|registered-models\/(set|delete)-tag)$/;

/** Whether a request sets or deletes the `cairn.project` tag of an experiment or a model, i.e. moves it between projects. */
export function movesProject(req: FastifyRequest): boolean {
  if (!PROJECT_TAG_ROUTES.test(req.routeOptions.url ?? "")) return false;
  return { ...((req.query ?? {}) as Record<string, unknown>), ...bodyOf(req) }.key === PROJECT_TAG;
}

/** The body as an object ({} when there is none or it is a stream). */
function bodyOf(req: FastifyRequest): Record<string, unknown> {
  return (req.body && typeof req.body === "object" && !Array.isArray(req.body) && typeof (req.body as { pipe?: unknown }).pipe !== "function" ? req.body : {}) as Record<string, unknown>;
}

/**
 * A request's input exactly as its handler reads it: MLflow's handlers take the query for GET and
 * the query overlaid with the body otherwise; the native routes take path params, query and body.
 */
export function inputOf(req: FastifyRequest): Record<string, unknown> {
  const query = (req.query ?? {}) as Record<string, unknown>;
  return req.method === "GET" ? query : { ...query, ...bodyOf(req) };
}

/** What a request acts on, from its matched route, params, query and body. */
export function targetOf(req: FastifyRequest): Target {
  const url = req.routeOptions.url ?? "";
  const params = (req.params ?? {}) as Record<string, string>;
  if (url.startsWith("/api/v1/")) return nativeTarget(req.method, url, params, bodyOf(req));
  // A deployment's inference endpoints: its model's project.
  if (url.startsWith("/deployments/:name")) return { kind: "deployment", name: params.name! };
  const mlflow = MLFLOW_PREFIXES.find((p) => url.startsWith(p));
  if (mlflow) return mlflowTarget(url.slice(mlflow.length), inputOf(req));
  if (MLFLOW_ARTIFACT_PREFIXES.some((p) => url.startsWith(p))) {
    // Proxied artifact paths start with the experiment id (`<experiment>/<run>/artifacts/...`); the
    // root itself spans every project.
    const path = params["*"] ?? str((req.query as Loose)?.path) ?? "";
    const first = path.replace(/^\/+/, "").split("/")[0];
    return first ? { kind: "experiment", id: first } : { kind: "adminOnly" };
  }
  return NONE;
}

const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : v === undefined || v === null || v === "" ? [] : [String(v)]);

/**
 * Every other resource a request names, which the caller must at least be able to read: a search's
 * or bulk read's experiments and runs, a version's source run or experiment, and any id beside the
 * one the route acts on (a request naming two runs is checked for both).
 */
export function referencesOf(req: FastifyRequest): Target[] {
  const input = { ...((req.params ?? {}) as Record<string, unknown>), ...inputOf(req) };
  const refs: Target[] = [];
  for (const id of [...list(input.run_id), ...list(input.run_uuid), ...list(input.run_ids), ...list(input.runIds), ...list(input.runId)]) refs.push({ kind: "run", id });
  for (const id of [...list(input.experiment_id), ...list(input.experiment_ids), ...list(input.experimentIds)]) refs.push({ kind: "experiment", id });
  const source = str(input.source);
  const m = source === undefined ? null : /^runs:\/+([^/]+)/.exec(source) ?? /^mlflow-artifacts:(?:\/\/[^/]*)?\/+([^/]+)/.exec(source);
  if (m) refs.push(source!.startsWith("runs:") ? { kind: "run", id: m[1]! } : { kind: "experiment", id: m[1]! });
  // A run's dataset link names the dataset version it links.
  if (typeof input.dataset === "string" && input.dataset.length > 0) refs.push({ kind: "dataset", name: input.dataset });
  // A drift reference may name a dataset version (`reference.dataset` of a drift request or monitor, the `reference` query of a file drift): reading it needs read on it.
  const driftRef = typeof input.reference === "string" ? input.reference : str((input.reference as { dataset?: unknown } | null | undefined)?.dataset);
  const driftDataset = driftRef === undefined ? null : /^(?:data(?:sets)?:\/?)?([^@]+)@/.exec(driftRef);
  if (driftDataset) refs.push({ kind: "dataset", name: driftDataset[1]! });
  // Logged inputs (MLflow's and the native route) may name Cairn versions by `datasets:/NAME@REF`; linking one needs read on it.
  if (Array.isArray(input.datasets)) {
    for (const d of input.datasets) {
      const source = str((d as { dataset?: { source?: unknown } } | null)?.dataset?.source);
      const m = source === undefined ? null : /^datasets:\/([^@/]+)/.exec(source.trim());
      if (m) refs.push({ kind: "dataset", name: m[1]! });
    }
  }
  return refs;
}

/**
 * Resources a request changes besides the one its route acts on: the dataset a run is recorded as
 * producing, and the run a new dataset version names as its producer. They need write, not read.
 */
export function writeReferencesOf(req: FastifyRequest): Target[] {
  const url = req.routeOptions.url ?? "";
  const body = bodyOf(req);
  if (url === "/api/v1/runs/:id/datasets" && body.direction === "output" && str(body.dataset)) return [{ kind: "dataset", name: str(body.dataset)! }];
  if (url === "/api/v1/datasets/:name/versions" && req.method === "POST" && str(body.runId)) return [{ kind: "run", id: str(body.runId)! }];
  return [];
}

/** Whether a create names its own artifact location (only admins may: a location can point into another experiment's files). */
function setsArtifactLocation(req: FastifyRequest): boolean {
  const url = req.routeOptions.url ?? "";
  if (url === "/api/v1/experiments") return req.method === "POST" && str(bodyOf(req).artifactLocation) !== undefined;
  return url.endsWith("/mlflow/experiments/create") && str(inputOf(req).artifact_location) !== undefined;
}

function nativeTarget(method: string, url: string, params: Record<string, string>, body: Record<string, unknown>): Target {
  if (url.startsWith("/api/v1/projects/:project")) return { kind: "project", project: params.project! };
  if (url === "/api/v1/experiments" && method === "POST") return { kind: "project", project: projectFromTags(body.tags) };
  if (url === "/api/v1/models" && method === "POST") return { kind: "project", project: projectFromTags(body.tags) };
  if (url === "/api/v1/datasets" && method === "POST") return { kind: "project", project: projectFromTags(body.tags) };
  if (url.startsWith("/api/v1/datasets/:name")) return { kind: "dataset", name: params.name! };
  // A deployment lives in its model's project; creating one needs write there.
  if (url === "/api/v1/deployments" && method === "POST") return str(body.model) ? { kind: "model", name: str(body.model)! } : NONE;
  if (url.startsWith("/api/v1/deployments/:name")) return { kind: "deployment", name: params.name! };
  // A pipeline lives in its experiment's project; a pipeline run is its tracking run.
  if (url === "/api/v1/pipelines" && method === "POST") return { kind: "project", project: projectFromTags(body.tags) };
  if (url.startsWith("/api/v1/pipelines/:name")) return { kind: "experimentName", name: `pipeline:${params.name!}` };
  if (url.startsWith("/api/v1/pipeline-runs/:id")) return { kind: "run", id: params.id! };
  if (url === "/api/v1/runs" && method === "POST") return str(body.experimentId) ? { kind: "experiment", id: str(body.experimentId)! } : NONE;
  if (url === "/api/v1/metrics/downsampled") return Array.isArray(body.runIds) ? { kind: "runs", ids: body.runIds.map(String) } : NONE;
  if (url.startsWith("/api/v1/experiments/:id")) return { kind: "experiment", id: params.id! };
  if (url.startsWith("/api/v1/experiments-by-name/:name")) return { kind: "experimentName", name: params.name! };
  if (url.startsWith("/api/v1/runs/:id")) return { kind: "run", id: params.id! };
  if (url.startsWith("/api/v1/models/:name")) return { kind: "model", name: params.name! };
  if (url.startsWith("/api/v1/promotions/:id")) return { kind: "promotion", id: params.id! };
  return NONE;
}

function mlflowTarget(op: string, src: Record<string, unknown> | undefined): Target {
  const s = src ?? {};
  if (op === "experiments/create" || op === "registered-models/create") return { kind: "project", project: projectFromTags(s.tags) };
  // MLflow puts a run without an experiment id in the Default experiment ("0").
  if (op === "runs/create") return { kind: "experiment", id: str(s.experiment_id) ?? "0" };
  // Registry operations act on the model even when they also name a run (a version's source run).
  if ((op.startsWith("registered-models/") || op.startsWith("model-versions/")) && str(s.name)) return { kind: "model", name: str(s.name)! };
  if (MLFLOW_READ_POSTS.test(`/${op}`) && !op.startsWith("metrics/")) return NONE;
  const run = str(s.run_id) ?? str(s.run_uuid);
  if (run) return { kind: "run", id: run };
  if (Array.isArray(s.run_ids)) return { kind: "runs", ids: s.run_ids.map(String) };
  if (typeof s.run_ids === "string") return { kind: "runs", ids: [s.run_ids] };
  const exp = str(s.experiment_id);
  if (exp) return { kind: "experiment", id: exp };
  const expName = str(s.experiment_name);
  if (expName) return { kind: "experimentName", name: expName };
  return NONE;
}

function describe(t: Target): string {
  switch (t.kind) {
    case "experiment":
      return `Experiment '${t.id}'`;
    case "experimentName":
      return `Experiment '${t.name}'`;
    case "run":
      return `Run '${t.id}'`;
    case "model":
      return `Registered model '${t.name}'`;
    case "promotion":
      return `Promotion request ${t.id}`;
    case "dataset":
      return `Dataset '${t.name}'`;
    case "deployment":
      return `Deployment '${t.name}'`;
    default:
      return "Resource";
  }
}

function needs(p: Principal, perm: Permission, project: string): string {
  const role = p.roles.get(project);
  return `You need the ${perm} permission in project '${project}'${role ? ` (you are ${role} there)` : ""}`;
}

/** Counts failed authentications per client address and locks an address out once it has too many. */
export class FailedAuthLimiter {
  readonly #fails = new Map<string, number[]>();
  constructor(
    readonly limit: number = AUTH_LIMITS.failedAuthLimit,
    readonly windowMs: number = AUTH_LIMITS.failedAuthWindowMs,
  ) {}

  /** Milliseconds until the address may try again; 0 when it is not locked out (always 0 with a limit of 0). */
  blockedFor(client: string, now = Date.now()): number {
    if (this.limit === 0) return 0;
    const list = this.#fails.get(client);
    if (!list) return 0;
    const live = list.filter((t) => now - t < this.windowMs);
    if (live.length === 0) {
      this.#fails.delete(client);
      return 0;
    }
    if (live.length !== list.length) this.#fails.set(client, live);
    return live.length >= this.limit ? this.windowMs - (now - live[live.length - this.limit]!) : 0;
  }

  fail(client: string, now = Date.now()): void {
    if (this.limit === 0) return;
    // Keep the map bounded under a flood from many addresses.
    if (this.#fails.size > 100_000) this.#fails.clear();
    const list = this.#fails.get(client) ?? [];
    list.push(now);
    if (list.length > this.limit * 2) list.splice(0, list.length - this.limit * 2);
    this.#fails.set(client, list);
  }
}

/**
 * The request guard used when auth is on: authenticates every API request (bearer, basic or the
 * UI's cookie), rate-limits failed attempts per client, authorizes each request against the
 * route's permission in the project of the resource it acts on, and drops items of unreadable
 * projects from list answers.
 *
 * Answers: 401 UNAUTHENTICATED (no, bad, expired or revoked token); 429 REQUEST_LIMIT_EXCEEDED
 * after too many failures; 403 PERMISSION_DENIED when the caller lacks the permission everywhere,
 * or may read the resource but not do this to it; 404 RESOURCE_DOES_NOT_EXIST, identical to a
 * missing resource, when the resource lives in a project the caller cannot read.
 */
export function createAuthGuard(auth: AuthService, lookups: ProjectLookups, limiter = new FailedAuthLimiter()): RequestGuard {
  async function projectOf(t: Target): Promise<string | undefined> {
    switch (t.kind) {
      case "experiment":
        return lookups.experiment(t.id);
      case "experimentName":
        return lookups.experimentByName(t.name);
      case "run":
        return lookups.run(t.id);
      case "model":
        return lookups.model(t.name);
      case "promotion":
        return lookups.promotion(t.id);
      case "dataset":
        return lookups.dataset(t.name);
      case "deployment":
        return lookups.deployment(t.name);
      default:
        return undefined;
    }
  }

  async function check(p: Principal, perm: Permission, t: Target): Promise<void> {
    if (t.kind === "none") return;
    if (t.kind === "adminOnly") throw new CairnError("PERMISSION_DENIED", "This needs the admin role");
    if (t.kind === "project") {
      if (!holds(p, perm, t.project)) throw new CairnError("PERMISSION_DENIED", needs(p, perm, t.project));
      return;
    }
    if (t.kind === "runs") {
      for (const id of t.ids) await check(p, perm, { kind: "run", id });
      return;
    }
    const project = await projectOf(t);
    if (project !== undefined && holds(p, perm, project)) return;
    if (project !== undefined && holds(p, "read", project)) throw new CairnError("PERMISSION_DENIED", needs(p, perm, project));
    throw new CairnError("RESOURCE_DOES_NOT_EXIST", `${describe(t)} not found`);
  }

  /** Names the project only where the caller may read it (or named it), so the message leaks nothing. */
  async function deniedMessage(p: Principal, perm: Permission, t: Target): Promise<string> {
    if (t.kind === "project") return needs(p, perm, t.project);
    if (t.kind !== "none" && t.kind !== "runs") {
      const project = await projectOf(t);
      if (project !== undefined && holds(p, "read", project)) return needs(p, perm, project);
    }
    return `You need the ${perm} permission, and you hold it in no project`;
  }

  async function visible(p: Principal, item: unknown, kind: "experiment" | "run" | "model" | "version" | "dataset" | "deployment"): Promise<boolean> {
    const o = (item ?? {}) as Record<string, unknown>;
    let project: string | undefined;
    if (kind === "deployment") {
      const model = str((o.spec as Record<string, unknown> | undefined)?.model);
      project = model === undefined ? undefined : await lookups.model(model);
    } else if (kind === "experiment" || kind === "model" || kind === "dataset") project = projectFromTags(o.tags);
    else if (kind === "run") {
      const info = (o.info ?? {}) as Record<string, unknown>;
      const exp = str(info.experimentId) ?? str(info.experiment_id);
      project = exp === undefined ? undefined : await lookups.experiment(exp);
    } else {
      const name = str(o.name) ?? str(o.modelName);
      project = name === undefined ? undefined : await lookups.model(name);
    }
    return project !== undefined && holds(p, "read", project);
  }

  const LISTS: [string, "experiment" | "run" | "model" | "version" | "dataset" | "deployment"][] = [
    ["deployments", "deployment"],
    ["datasets", "dataset"],
    ["experiments", "experiment"],
    ["runs", "run"],
    ["registeredModels", "model"],
    ["registered_models", "model"],
    ["modelVersions", "version"],
    ["model_versions", "version"],
    ["promotionRequests", "version"],
  ];

  return {
    async authenticate(req: FastifyRequest, reply: FastifyReply, token: string | undefined): Promise<void> {
      const client = req.ip;
      const wait = limiter.blockedFor(client);
      if (wait > 0) {
        reply.header("retry-after", String(Math.ceil(wait / 1000)));
        throw new CairnError("REQUEST_LIMIT_EXCEEDED", "Too many failed authentication attempts from this address; try again later");
      }
      if (token === undefined) throw new CairnError("UNAUTHENTICATED", "Authentication required: send 'Authorization: Bearer <token>'");
      try {
        req.principal = await auth.authenticate(token);
      } catch (e) {
        limiter.fail(client);
        throw e;
      }
    },

    async authorize(req: FastifyRequest): Promise<void> {
      const p = principalOf(req);
      if (p.admin) return;
      const perm = permissionOf(req);
      if (perm === "public" || perm === "authenticated") return;
      if (perm === "admin") throw new CairnError("PERMISSION_DENIED", "This needs the admin role");
      if (movesProject(req)) throw new CairnError("PERMISSION_DENIED", `Only admins move experiments and models between projects (the '${PROJECT_TAG}' tag)`);
      if (setsArtifactLocation(req)) throw new CairnError("PERMISSION_DENIED", "Only admins choose an experiment's artifact location");
      const target = targetOf(req);
      if (!holdsAnywhere(p, perm)) throw new CairnError("PERMISSION_DENIED", await deniedMessage(p, perm, target));
      await check(p, perm, target);
      for (const ref of referencesOf(req)) await check(p, "read", ref);
      for (const ref of writeReferencesOf(req)) await check(p, "write", ref);
    },

    async filter(req: FastifyRequest, payload: unknown): Promise<unknown> {
      const p = principalOf(req);
      if (p.admin || payload === null || typeof payload !== "object" || targetOf(req).kind !== "none") return payload;
      let out = payload as Record<string, unknown>;
      for (const [key, kind] of LISTS) {
        const list = out[key];
        if (!Array.isArray(list)) continue;
        const keep: unknown[] = [];
        for (const item of list) if (await visible(p, item, kind)) keep.push(item);
        out = { ...out, [key]: keep };
      }
      return out;
    },
  };
}
