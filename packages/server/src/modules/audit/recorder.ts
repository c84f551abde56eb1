import type { FastifyReply, FastifyRequest } from "fastify";
import { principalOf } from "../../platform/auth/principal.js";
import type { RequestAuditor } from "../../platform/http/app.js";
import { operationOf } from "../../platform/http/route-permission.js";
import { inputOf, targetOf, type Target } from "../auth/guard.js";
import type { AuditLog } from "./service.js";

/** Reads a compact view of a resource, recorded as `before` and `after` around a change. */
export interface AuditSnapshots {
  snapshot(target: Target): Promise<unknown>;
}

const SECRET_KEY = /token|secret|password|authorization/i;
const MAX_STRING = 200;
const MAX_ITEMS = 20;
const MAX_PAYLOAD_SCAN = 65536;
// Hot write routes whose effect the request body already describes: no snapshot reads around them.
// Content-addressed blob traffic: bytes become data only when a version names them, and that create is recorded.
const NOT_AUDITED = new Set(["uploadBlob", "uploadBlobs", "findMissingBlobs"]);
const NO_SNAPSHOT = /\/(log|log-batch|log-metric|log-parameter|log-inputs|log-model|inputs|artifacts)(\/|$)|^\/api\/v1\/runs\/:id\/artifacts/;

/**
 * A bounded, secret-free summary of a request body: long strings are cut, long arrays become a
 * count with their first items, and values under token/secret/password keys are redacted.
 */
export function summarize(v: unknown, depth = 0): unknown {
  if (typeof v === "string") return v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}…(${v.length} chars)` : v;
  if (v === null || typeof v !== "object") return v ?? null;
  if (depth >= 4) return Array.isArray(v) ? `[${v.length} items]` : "{…}";
  if (Array.isArray(v)) {
    const head = v.slice(0, v.length > MAX_ITEMS ? 3 : MAX_ITEMS).map((x) => summarize(x, depth + 1));
    return v.length > MAX_ITEMS ? [...head, `…(${v.length} items)`] : head;
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = SECRET_KEY.test(k) ? "[redacted]" : summarize(x, depth + 1);
  return out;
}

/** The resource a request acts on, as `kind:id` (`model:churn/3`, `model:churn@production`, `run:abc`). */
export function resourceOf(req: FastifyRequest, target: Target = targetOf(req)): string {
  const params = (req.params ?? {}) as Record<string, string>;
  const src = inputOf(req);
  const url = req.routeOptions.url ?? "";
  switch (target.kind) {
    case "experiment":
      return `experiment:${target.id}`;
    case "experimentName":
      return `experiment-name:${target.name}`;
    case "run":
      return `run:${target.id}`;
    case "runs":
      return `runs:${target.ids.join(",")}`;
    case "promotion":
      return `promotion:${target.id}`;
    case "model": {
      const version = params.version ?? (typeof src.version === "string" || typeof src.version === "number" ? String(src.version) : undefined);
      const alias = params.alias ?? (typeof src.alias === "string" ? src.alias : undefined);
      // An alias change names the alias; its body's version is the new value, not the resource.
      return `model:${target.name}${alias ? `@${alias}` : version ? `/${version}` : ""}`;
    }
    case "dataset": {
      const at = params.tag ? `@${params.tag}` : params.ref ? `@${params.ref}` : "";
      return `dataset:${target.name}${at}`;
    }
    case "project":
      return params.name && url.includes("/members/") ? `project:${target.project}/member:${params.name}` : `project:${target.project}`;
    default:
      if (url.startsWith("/api/v1/auth/users")) return `user:${params.name ?? (typeof src.name === "string" ? src.name : "")}`;
      if (url.startsWith("/api/v1/auth/tokens")) return params.id ? `token:${params.id}` : `token:${typeof src.user === "string" ? src.user : principalOf(req).name}`;
      if (url === "/api/v1/projects") return `project:${typeof src.name === "string" ? src.name : ""}`;
      return url;
  }
}

/** The resource a create request made, read from its answer (the id is only known afterwards). */
function createdResource(payload: unknown): string | undefined {
  if (typeof payload !== "string" || payload.length > MAX_PAYLOAD_SCAN || payload[0] !== "{") return undefined;
  try {
    const o = JSON.parse(payload) as Record<string, any>;
    const run = o.run?.info?.runId ?? o.run?.info?.run_id;
    if (run !== undefined) return `run:${run}`;
    const mv = o.modelVersion ?? o.model_version;
    if (mv?.name !== undefined) return `model:${mv.name}/${mv.version}`;
    if (o.promotionRequest?.id !== undefined) return `promotion:${o.promotionRequest.id}`;
    if (o.version?.dataset !== undefined) return `dataset:${o.version.dataset}@v${o.version.number}`;
    if (o.dataset?.name !== undefined) return `dataset:${o.dataset.name}`;
    const model = o.registeredModel?.name ?? o.registered_model?.name;
    if (model !== undefined) return `model:${model}`;
    const exp = o.experiment?.experimentId ?? o.experiment_id;
    if (exp !== undefined) return `experiment:${exp}`;
    if (o.info?.id !== undefined && o.info?.user !== undefined) return `token:${o.info.id}`;
  } catch {
    // Not JSON: keep the route-derived resource.
  }
  return undefined;
}

/** `registry.setAlias` for native routes; `mlflow:runs/log-batch` for MLflow's. */
function actionOf(req: FastifyRequest): string {
  const op = operationOf(req);
  if (op) return op;
  const url = req.routeOptions.url ?? req.url;
  const m = /^\/(?:ajax-)?api\/2\.0\/(mlflow(?:-artifacts)?)\/(.*)$/.exec(url);
  return m ? `${m[1]}:${req.method === "POST" ? "" : `${req.method} `}${m[2]}` : `${req.method} ${url}`;
}

const kBefore = Symbol("auditBefore");
type WithBefore = FastifyRequest & { [kBefore]?: { target: Target; value: unknown } };

const json = (v: unknown): string | null => (v === undefined || v === null ? null : JSON.stringify(v));

/**
 * The HTTP side of the audit log: before a mutating request runs, it reads a snapshot of the
 * resource (models, experiments and runs, except the hot log and artifact routes); once the answer
 * is ready, it appends `{actor, action, resource, before, after, status, requestId, client}` and
 * waits for the commit, so no request is acknowledged without its record.
 */
export function createAuditRecorder(log: AuditLog, snapshots?: AuditSnapshots): RequestAuditor {
  return {
    async prepare(req: FastifyRequest): Promise<void> {
      if (NOT_AUDITED.has(operationOf(req) ?? "")) return;
      if (!snapshots || NO_SNAPSHOT.test(req.routeOptions.url ?? "")) return;
      const target = targetOf(req);
      if (target.kind !== "model" && target.kind !== "experiment" && target.kind !== "run") return;
      (req as WithBefore)[kBefore] = { target, value: await snapshots.snapshot(target).catch(() => undefined) };
    },

    async record(req: FastifyRequest, reply: FastifyReply, payload?: unknown): Promise<void> {
      if (NOT_AUDITED.has(operationOf(req) ?? "")) return;
      const before = (req as WithBefore)[kBefore];
      const ok = reply.statusCode < 400;
      const target = before?.target ?? targetOf(req);
      let resource = resourceOf(req, target);
      // Creates only learn their resource's id from the answer.
      // (A run's dataset link answers with the version, but acts on the run.)
      if (ok && req.method === "POST" && operationOf(req) !== "linkRunDataset") resource = createdResource(payload) ?? resource;
      let after: unknown = summarize(req.body);
      if (before && ok && snapshots) after = { change: after, state: await snapshots.snapshot(before.target).catch(() => undefined) };
      await log.append({
        time: Date.now(),
        actor: principalOf(req).name,
        action: actionOf(req),
        resource,
        beforeJson: json(before?.value),
        afterJson: json(after),
        status: reply.statusCode,
        requestId: String(req.id),
        client: req.ip,
      });
    },
  };
}
