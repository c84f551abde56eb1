import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { CairnError } from "@cairn/contract";
import { VERSION } from "../../version.js";
import { toCairnError } from "../../platform/http/app.js";
import { decodeScoringRequest, encodeScoringResponse } from "../serving/mlflow-scoring.js";
import { decodeInferRequest, encodeInferResponse, modelMetadata } from "../serving/oip.js";
import { checkInputs } from "../serving/validate.js";
import { errorBody } from "../serving/serve-app.js";
import type { Tensor } from "../serving/tensor.js";
import type { DeploymentService } from "./service.js";
import type { Arm, LiveDeployment } from "./runtime.js";
import { DeploymentMetrics } from "./metrics.js";

/** Values (inputs and outputs together) of a prediction kept for the UI's recent list. */
const RECENT_MAX_VALUES = 10_000;

// Payloads for the recent list are made outside the request handlers: a closure made inside one
// would keep the handler's whole scope, big input tensors included, alive in the list.
const NO_PAYLOAD = () => ({ inputs: null, outputs: null });
const TOO_LARGE = () => ({ inputs: "(too large to keep here; see the inference log)", outputs: null });
function keptPayload(inputs: Tensor[], outputs: Tensor[], encode: (ts: Tensor[]) => unknown): () => { inputs: unknown; outputs: unknown } {
  if ([...inputs, ...outputs].reduce((n, t) => n + t.data.length, 0) > RECENT_MAX_VALUES) return TOO_LARGE;
  return () => ({ inputs: encode(inputs), outputs: encode(outputs) });
}

type Params = { name: string; model?: string; version?: string };

/** What the handler learned, for the response hook's metrics. */
declare module "fastify" {
  interface FastifyRequest {
    cairnServed?: { arm: Arm; version: string };
  }
}

/** A caller's request id: `x-request-id` when it sent a usable one. */
function callerRequestId(req: FastifyRequest): string | undefined {
  const h = req.headers["x-request-id"];
  return typeof h === "string" && /^[\x21-\x7e]{1,128}$/.test(h) ? h : undefined;
}

/**
 * The deployments data plane on the main server, per deployment under `/deployments/{name}`: the
 * Open Inference Protocol v2 REST endpoints (health, metadata, ready, infer) and MLflow's
 * `/invocations`, so a KServe or Triton client pointed at `/deployments/{name}` works unchanged.
 * Requests go to the primary or the canary (by traffic share, sticky by a header), a copy goes to
 * the shadow in the background, and every prediction is counted, kept for the UI and logged.
 * With auth on, predicting needs read on the deployment's model's project. `GET /metrics` serves
 * Prometheus text for every deployment.
 */
export function registerDeploymentDataPlane(app: FastifyInstance, svc: DeploymentService): void {
  const metrics = new DeploymentMetrics(svc.runtime);
  // Every deployment's traffic, across projects: with auth on, admins (or an admin token for the scraper) only.
  app.get("/metrics", { config: { permission: "admin" } }, async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  void app.register(async (scope) => {
    // OIP clients read `error`; Cairn's stable code rides along.
    scope.setErrorHandler((err, req, reply) => {
      const e = toCairnError(err, req);
      if (e.status >= 500) req.log.error({ err, reqId: req.id, url: req.url }, "inference request failed");
      if (e.code === "UNAUTHENTICATED") reply.header("www-authenticate", 'Bearer realm="cairn"');
      return reply.code(e.status).send(errorBody(e));
    });
    scope.addHook("onResponse", async (req, reply) => {
      const route = req.routeOptions.url;
      if (route === undefined || !(route.endsWith("/infer") || route.endsWith("/invocations"))) return;
      // Only requests that reached a running deployment: names in refused requests must not mint label sets.
      const served = req.cairnServed;
      if (served) metrics.observe((req.params as Params).name, served.version, served.arm, reply.statusCode, reply.elapsedTime / 1000);
    });

    const live = (params: Params): LiveDeployment => {
      const d = svc.runtime.get(params.name);
      if (!d) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Deployment '${params.name}' not found`);
      if (params.model !== undefined && !d.servesModel(params.model)) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Deployment '${d.name}' serves model '${d.row.spec.model}', not '${params.model}'`);
      return d;
    };
    const json = (req: FastifyRequest): unknown => {
      // Bodies of other content types arrive as a stream (see createHttpApp).
      const b = req.body as { pipe?: unknown } | undefined;
      if (b && typeof b.pipe === "function") throw new CairnError("UNSUPPORTED_MEDIA_TYPE", `Unsupported content type '${req.headers["content-type"] ?? ""}'; send application/json`);
      return req.body;
    };
    const opts = { config: { permission: "read" as const } };
    const D = "/deployments/:name";

    scope.get(`${D}/v2/health/live`, opts, async (req) => (live(req.params as Params), { live: true }));
    scope.get(`${D}/v2/health/ready`, opts, async (req, reply) => {
      const d = live(req.params as Params);
      if (d.ready) return { ready: true };
      const s = d.status();
      return reply.code(503).send({ ready: false, state: s.state, ...(s.error ? { error: s.error } : {}) });
    });
    scope.get(`${D}/v2`, opts, async (req) => (live(req.params as Params), { name: "cairn", version: VERSION, extensions: [] }));

    const metadata = async (req: FastifyRequest) => {
      const p = req.params as Params;
      const d = live(p);
      const m = p.version !== undefined ? d.pick({}, p.version).host.current : d.anyModel();
      if (!m) throw new CairnError("TEMPORARILY_UNAVAILABLE", `Deployment '${d.name}' has no version loaded yet`);
      const versions = p.version !== undefined ? [p.version] : [...new Set([...d.arms].filter(([a]) => a !== "shadow").map(([, a]) => a.host.current?.version).filter((v): v is string => v !== undefined))];
      return modelMetadata({ name: p.model!, versions, platform: m.platform, signature: m.signature });
    };
    scope.get(`${D}/v2/models/:model`, opts, metadata);
    scope.get(`${D}/v2/models/:model/versions/:version`, opts, metadata);

    const ready = async (req: FastifyRequest, reply: FastifyReply) => {
      const p = req.params as Params;
      const d = live(p);
      if (p.version !== undefined) d.pick({}, p.version);
      const ok = p.version !== undefined || d.ready;
      return reply.code(ok ? 200 : 503).send({ name: p.model, ready: ok });
    };
    scope.get(`${D}/v2/models/:model/ready`, opts, ready);
    scope.get(`${D}/v2/models/:model/versions/:version/ready`, opts, ready);

    /** Runs inputs on the arm the deployment picks, then counts, remembers, logs and mirrors the prediction. */
    const predict = async (req: FastifyRequest, reply: FastifyReply, d: LiveDeployment, pick: ReturnType<LiveDeployment["pick"]>, inputs: Tensor[], id: string, outputsWanted?: string[]) => {
      const started = performance.now();
      const current = pick.host.current!;
      const encode = (ts: Tensor[]) => encodeInferResponse({ modelName: current.name, id, outputs: ts }).outputs;
      req.cairnServed = { arm: pick.arm, version: current.version };
      let result: Awaited<ReturnType<typeof pick.host.infer>>;
      try {
        result = await pick.host.infer(inputs, outputsWanted);
      } catch (e) {
        const ms = performance.now() - started;
        d.stats.record(pick.arm, current.version, ms, false);
        d.stats.remember({ requestId: id, time: Date.now(), arm: pick.arm, version: current.version, status: toCairnError(e, req).status, latencyMs: ms, payload: NO_PAYLOAD, error: e instanceof Error ? e.message : String(e) });
        throw e;
      }
      const { outputs, model } = result;
      const ms = performance.now() - started;
      req.cairnServed = { arm: pick.arm, version: model.version };
      reply.header("x-request-id", id).header("x-cairn-arm", pick.arm).header("x-cairn-model-version", model.version);
      d.stats.record(pick.arm, model.version, ms, true);
      d.stats.remember({ requestId: id, time: Date.now(), arm: pick.arm, version: model.version, status: 200, latencyMs: ms, payload: keptPayload(inputs, outputs, encode) });
      const time = Date.now();
      d.logPrediction(() => ({ requestId: id, version: model.version, arm: pick.arm, inputs: encode(inputs), outputs: encode(outputs), latencyMs: ms, status: 200, time }));
      d.mirror(id, inputs, encode);
      return { outputs, model };
    };

    /**
     * Checks a request against the arm it goes to; a refused one is still answered with its request
     * id and counted as that arm's error, so bad client traffic shows in the live view.
     */
    const checked = <T>(reply: FastifyReply, d: LiveDeployment, pick: ReturnType<LiveDeployment["pick"]> | undefined, id: string, body: unknown, check: () => T): T => {
      reply.header("x-request-id", id);
      try {
        return check();
      } catch (e) {
        const arm = pick?.arm ?? "primary";
        const version = pick?.host.current?.version ?? d.row.versions.primary;
        d.stats.record(arm, version, 0, false);
        d.stats.remember({ requestId: id, time: Date.now(), arm, version, status: toCairnError(e, reply.request).status, latencyMs: 0, payload: NO_PAYLOAD, error: e instanceof Error ? e.message : String(e) });
        throw e;
      }
    };

    const infer = async (req: FastifyRequest, reply: FastifyReply) => {
      const p = req.params as Params;
      const d = live(p);
      const body = json(req);
      const headerId = callerRequestId(req);
      const request = checked(reply, d, undefined, headerId ?? randomUUID(), body, () => decodeInferRequest(body));
      const id = request.id ?? headerId ?? (reply.getHeader("x-request-id") as string);
      const pick = d.pick(req.headers, p.version);
      const signature = pick.host.current!.signature;
      const inputs = checked(reply, d, pick, id, body, () => (signature ? checkInputs(request.inputs, signature, { allowNaN: d.row.spec.allowNaN }) : request.inputs));
      const { outputs, model } = await predict(req, reply, d, pick, inputs, id, request.outputs);
      return encodeInferResponse({ modelName: p.model!, modelVersion: model.version, id, outputs });
    };
    scope.post(`${D}/v2/models/:model/infer`, opts, infer);
    scope.post(`${D}/v2/models/:model/versions/:version/infer`, opts, infer);

    scope.post(`${D}/invocations`, opts, async (req, reply) => {
      const d = live(req.params as Params);
      const body = json(req);
      const pick = d.pick(req.headers);
      const m = pick.host.current!;
      if (!m.signature) throw new CairnError("INVALID_STATE", `Model ${m.name} version ${m.version} has no signature; /invocations needs one to map columns to inputs (use the v2 infer endpoint)`);
      const signature = m.signature;
      const id = callerRequestId(req) ?? randomUUID();
      const inputs = checked(reply, d, pick, id, body, () => checkInputs(decodeScoringRequest(body, signature), signature, { allowNaN: d.row.spec.allowNaN }));
      const { outputs } = await predict(req, reply, d, pick, inputs, id);
      return encodeScoringResponse(outputs);
    });
  });
}
