import { randomUUID } from "node:crypto";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { CairnError, isCairnError } from "@cairn/contract";
import { VERSION } from "../../version.js";
import { decodeScoringRequest, encodeScoringResponse } from "./mlflow-scoring.js";
import { decodeInferRequest, encodeInferResponse, modelMetadata } from "./oip.js";
import { checkInputs } from "./validate.js";
import type { ModelHost } from "./model-host.js";
import { ServeMetrics } from "./metrics.js";
import type { InferenceLogBuffer } from "./log-buffer.js";
import type { Tensor } from "./tensor.js";

export interface ServeAppOptions {
  host: ModelHost;
  /** Where predictions are logged (buffered; the request never waits on it). */
  log?: InferenceLogBuffer;
  /** Largest request body in bytes (default 64 MiB). */
  bodyLimit?: number;
  /** Accept NaN in float inputs (default: refused). */
  allowNaN?: boolean;
}

/** The answer for an error: OIP clients read `error`; `code` is Cairn's stable code (an extra field breaks no client). */
export function errorBody(e: CairnError) {
  return { error: e.message, code: e.code, error_code: e.code, message: e.message };
}

/**
 * The standalone model server (`cairn serve`): the Open Inference Protocol v2 REST endpoints
 * (`/v2/health/live|ready`, `/v2`, `/v2/models/{m}[/versions/{v}]`, `…/ready`, `…/infer`) and MLflow's
 * scoring endpoint (`POST /invocations`), for the model the host serves. Every input is checked
 * against the version's signature; every error is a 4xx with a code, never a crash.
 */
export function buildServeApp(opts: ServeAppOptions): FastifyInstance {
  const { host } = opts;
  const app = Fastify({ bodyLimit: opts.bodyLimit ?? 64 * 1024 * 1024, logger: false, requestIdHeader: false, genReqId: () => randomUUID() });

  // JSON only: any other body is 415 UNSUPPORTED_MEDIA_TYPE, not text parsed into a confusing 400.
  app.removeContentTypeParser("text/plain");
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (isCairnError(err)) return reply.code(err.status).send(errorBody(err));
    // Fastify's own: malformed JSON, an oversized body, a wrong content type.
    if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") return reply.code(413).send(errorBody(new CairnError("PAYLOAD_TOO_LARGE", err.message)));
    if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") return reply.code(415).send(errorBody(new CairnError("UNSUPPORTED_MEDIA_TYPE", `${err.message}; send application/json`)));
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return reply.code(400).send(errorBody(new CairnError("MALFORMED_REQUEST", err.message)));
    return reply.code(500).send(errorBody(new CairnError("INTERNAL_ERROR", "Internal error")));
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody(new CairnError("ENDPOINT_NOT_FOUND", `No endpoint ${req.method} ${req.url.split("?")[0]}`))));

  /** The current model, when the request names it (and the version, when it names one). */
  const modelFor = (params: { model: string; version?: string }) => {
    const m = host.current;
    if (!m || m.name !== params.model) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Model '${params.model}' is not served here${m ? ` (this server serves '${m.name}')` : ""}`);
    if (params.version !== undefined && params.version !== m.version) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Model '${m.name}' version '${params.version}' is not served here (version ${m.version} is)`);
    return m;
  };

  const metrics = new ServeMetrics(host, opts.log);
  /** Logs a served prediction (inputs and outputs as the protocol carries them). */
  const logPrediction = (reply: FastifyReply, requestId: string, model: { name: string; version: string }, inputs: Tensor[], outputs: Tensor[]) => {
    if (!opts.log) return;
    const encode = (ts: Tensor[]) => encodeInferResponse({ modelName: model.name, id: requestId, outputs: ts }).outputs;
    const latencyMs = reply.elapsedTime;
    const time = Date.now();
    opts.log.log(() => ({ requestId, version: model.version, deployment: `serve:${model.name}`, arm: "primary", inputs: encode(inputs), outputs: encode(outputs), latencyMs, status: 200, time }));
  };
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.url;
    // Only the inference endpoints are counted (health probes and scrapes would drown them).
    if (route === undefined || !(route.endsWith("/infer") || route === "/invocations")) return;
    metrics.observe(route === "/invocations" ? "invocations" : "infer", host.current?.name ?? "", host.current?.version ?? "", reply.statusCode, reply.elapsedTime / 1000);
  });
  app.get("/metrics", async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  app.get("/v2/health/live", async () => ({ live: true }));
  app.get("/v2/health/ready", async (_req, reply) => (host.current ? { ready: true } : reply.code(503).send({ ready: false, ...(host.lastError ? { error: host.lastError } : {}) })));
  app.get("/v2", async () => ({ name: "cairn", version: VERSION, extensions: [] }));

  const metadata = async (req: FastifyRequest) => {
    const m = modelFor(req.params as { model: string; version?: string });
    return modelMetadata({ name: m.name, versions: [m.version], platform: m.platform, signature: m.signature });
  };
  app.get("/v2/models/:model", metadata);
  app.get("/v2/models/:model/versions/:version", metadata);

  const ready = async (req: FastifyRequest, reply: FastifyReply) => {
    modelFor(req.params as { model: string; version?: string });
    return reply.code(200).send({ name: host.current!.name, ready: true });
  };
  app.get("/v2/models/:model/ready", ready);
  app.get("/v2/models/:model/versions/:version/ready", ready);

  const infer = async (req: FastifyRequest, reply: FastifyReply) => {
    const m = modelFor(req.params as { model: string; version?: string });
    const request = decodeInferRequest(req.body);
    const inputs = m.signature ? checkInputs(request.inputs, m.signature, { allowNaN: opts.allowNaN ?? false }) : request.inputs;
    const { outputs, model } = await host.infer(inputs, request.outputs);
    const id = request.id ?? req.id;
    reply.header("x-request-id", id);
    logPrediction(reply, id, model, inputs, outputs);
    return encodeInferResponse({ modelName: model.name, modelVersion: model.version, id, outputs });
  };
  app.post("/v2/models/:model/infer", infer);
  app.post("/v2/models/:model/versions/:version/infer", infer);

  app.post("/invocations", async (req, reply) => {
    const m = host.current;
    if (!m) throw new CairnError("TEMPORARILY_UNAVAILABLE", "No model is loaded yet");
    if (!m.signature) throw new CairnError("INVALID_STATE", `Model ${m.name} version ${m.version} has no signature; /invocations needs one to map columns to inputs (use the v2 infer endpoint)`);
    const inputs = checkInputs(decodeScoringRequest(req.body, m.signature), m.signature, { allowNaN: opts.allowNaN ?? false });
    const { outputs, model } = await host.infer(inputs);
    reply.header("x-request-id", req.id);
    logPrediction(reply, req.id, model, inputs, outputs);
    return encodeScoringResponse(outputs);
  });

  return app;
}
