import type { FastifyInstance } from "fastify";
import { Readable } from "node:stream";
import { AliasName, CairnError } from "@cairn/contract";
import * as C from "@cairn/contract";
import { validate } from "../../../platform/http/validate.js";
import type { Actor, RegistryService } from "../service.js";
import { actorOf, readableProjects } from "../../../platform/auth/principal.js";
import type { SearchScope } from "../../tracking/service.js";
import * as M from "./schemas.js";
import { mlflowModelVersion, mlflowRegisteredModel } from "./wire.js";

const PREFIXES = ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"];

type Handler = (input: Record<string, unknown>, where: "query" | "body", by: Actor & SearchScope) => Promise<unknown>;

function tagRecord(tags: { key: string; value: string }[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) out[t.key] = t.value;
  return out;
}

function withToken<T extends object>(body: T, token: string | undefined): T & { next_page_token?: string } {
  return token ? { ...body, next_page_token: token } : body;
}

/**
 * MLflow's model-registry REST API (`registered-models/*`, `model-versions/*`) as a thin adapter over
 * `RegistryService`: each endpoint maps MLflow's snake_case request to one service call and the result
 * back to MLflow's JSON. Values go through the contract's schemas, so limits and errors match the native API.
 */
export function registerMlflowRegistryRoutes(app: FastifyInstance, svc: RegistryService): void {
  const on = (methods: ("GET" | "POST" | "PATCH" | "DELETE")[], path: string, handler: Handler) => {
    for (const prefix of PREFIXES) {
      app.route({
        method: methods,
        url: `${prefix}/${path}`,
        handler: async (req) => {
          const body: unknown = req.body;
          if (body !== undefined && req.method !== "GET") {
            if (body instanceof Readable) throw new CairnError("UNSUPPORTED_MEDIA_TYPE", "Send a JSON body with Content-Type: application/json");
            if (typeof body !== "object" || body === null || Array.isArray(body)) throw new CairnError("MALFORMED_REQUEST", "The request body must be a JSON object");
          }
          const by = { actor: actorOf(req), projects: readableProjects(req) };
          if (req.method === "GET") return handler(req.query as Record<string, unknown>, "query", by);
          return handler({ ...(req.query as object), ...((body as object | undefined) ?? {}) }, "body", by);
        },
      });
    }
  };

  // ---------- registered models ----------
  on(["POST"], "registered-models/create", async (input, w, by) => {
    const m = validate(M.CreateRegisteredModel, input, w);
    const req = validate(C.CreateRegisteredModelRequest, { name: m.name, description: m.description, tags: tagRecord(m.tags) }, w);
    return { registered_model: mlflowRegisteredModel(await svc.createRegisteredModel(req, by)) };
  });
  on(["POST"], "registered-models/rename", async (input, w) => {
    const m = validate(M.RenameRegisteredModel, input, w);
    const req = validate(C.RenameRegisteredModelRequest, { newName: m.new_name }, w);
    return { registered_model: mlflowRegisteredModel(await svc.renameRegisteredModel(m.name, req.newName)) };
  });
  on(["PATCH"], "registered-models/update", async (input, w) => {
    const m = validate(M.UpdateRegisteredModel, input, w);
    const req = validate(C.UpdateRegisteredModelRequest, { description: m.description ?? "" }, w);
    return { registered_model: mlflowRegisteredModel(await svc.updateRegisteredModel(m.name, req.description)) };
  });
  on(["DELETE"], "registered-models/delete", async (input, w) => (await svc.deleteRegisteredModel(validate(M.NameOnly, input, w).name), {}));
  on(["GET"], "registered-models/get", async (input, w) => ({ registered_model: mlflowRegisteredModel(await svc.getRegisteredModel(validate(M.NameOnly, input, w).name)) }));
  on(["GET"], "registered-models/search", async (input, w, by) => {
    const m = validate(M.Search, input, w);
    const req = validate(C.SearchRegisteredModelsRequest, { filter: m.filter || undefined, maxResults: m.max_results, orderBy: m.order_by, pageToken: m.page_token || undefined }, w);
    const res = await svc.searchRegisteredModels(req, by);
    return withToken({ registered_models: res.registeredModels.map(mlflowRegisteredModel) }, res.nextPageToken);
  });
  on(["GET", "POST"], "registered-models/get-latest-versions", async (input, w) => {
    const m = validate(M.GetLatestVersions, input, w);
    return { model_versions: (await svc.getLatestVersions(m.name, m.stages)).map(mlflowModelVersion) };
  });
  on(["POST"], "registered-models/set-tag", async (input, w) => {
    const m = validate(M.SetModelTag, input, w);
    const t = validate(C.SetRegistryTagRequest, { key: m.key, value: m.value }, w);
    await svc.setRegisteredModelTag(m.name, t.key, t.value);
    return {};
  });
  on(["DELETE"], "registered-models/delete-tag", async (input, w) => {
    const m = validate(M.DeleteModelTag, input, w);
    await svc.deleteRegisteredModelTag(m.name, validate(C.RegistryTagQuery, { key: m.key }, w).key);
    return {};
  });
  on(["POST"], "registered-models/alias", async (input, w, by) => {
    const m = validate(M.SetAlias, input, w);
    const alias = validate(AliasName, m.alias, `${w}.alias`);
    await svc.setAlias(m.name, alias, validate(C.SetAliasRequest, { version: m.version }, w).version, by);
    return {};
  });
  on(["DELETE"], "registered-models/alias", async (input, w, by) => {
    const m = validate(M.AliasRef, input, w);
    await svc.deleteAlias(m.name, validate(AliasName, m.alias, `${w}.alias`), by);
    return {};
  });
  on(["GET"], "registered-models/alias", async (input, w) => {
    const m = validate(M.AliasRef, input, w);
    return { model_version: mlflowModelVersion(await svc.getModelVersionByAlias(m.name, validate(AliasName, m.alias, `${w}.alias`))) };
  });

  // ---------- model versions ----------
  on(["POST"], "model-versions/create", async (input, w, by) => {
    const m = validate(M.CreateModelVersion, input, w);
    const req = validate(C.CreateModelVersionRequest, { source: m.source, runId: m.run_id || undefined, runLink: m.run_link, description: m.description, tags: tagRecord(m.tags) }, w);
    return { model_version: mlflowModelVersion(await svc.createModelVersion(m.name, req, by)) };
  });
  on(["PATCH"], "model-versions/update", async (input, w) => {
    const m = validate(M.UpdateModelVersion, input, w);
    const req = validate(C.UpdateModelVersionRequest, { description: m.description ?? "" }, w);
    return { model_version: mlflowModelVersion(await svc.updateModelVersion(m.name, m.version, req.description)) };
  });
  on(["POST"], "model-versions/transition-stage", async (input, w) => {
    const m = validate(M.TransitionStage, input, w);
    const req = validate(C.TransitionStageRequest, { stage: m.stage, archiveExistingVersions: m.archive_existing_versions }, w);
    return { model_version: mlflowModelVersion(await svc.transitionModelVersionStage(m.name, m.version, req)) };
  });
  on(["DELETE"], "model-versions/delete", async (input, w, by) => {
    const m = validate(M.VersionRef, input, w);
    await svc.deleteModelVersion(m.name, m.version, by);
    return {};
  });
  on(["GET"], "model-versions/get", async (input, w) => {
    const m = validate(M.VersionRef, input, w);
    return { model_version: mlflowModelVersion(await svc.getModelVersion(m.name, m.version)) };
  });
  on(["GET"], "model-versions/search", async (input, w, by) => {
    const m = validate(M.Search, input, w);
    const req = validate(C.SearchModelVersionsRequest, { filter: m.filter || undefined, maxResults: m.max_results, orderBy: m.order_by, pageToken: m.page_token || undefined }, w);
    const res = await svc.searchModelVersions(req, by);
    return withToken({ model_versions: res.modelVersions.map(mlflowModelVersion) }, res.nextPageToken);
  });
  on(["GET"], "model-versions/get-download-uri", async (input, w) => {
    const m = validate(M.VersionRef, input, w);
    return { artifact_uri: await svc.getDownloadUri(m.name, m.version) };
  });
  on(["POST"], "model-versions/set-tag", async (input, w) => {
    const m = validate(M.SetVersionTag, input, w);
    const t = validate(C.SetRegistryTagRequest, { key: m.key, value: m.value }, w);
    await svc.setModelVersionTag(m.name, m.version, t.key, t.value);
    return {};
  });
  on(["DELETE"], "model-versions/delete-tag", async (input, w) => {
    const m = validate(M.DeleteVersionTag, input, w);
    await svc.deleteModelVersionTag(m.name, m.version, validate(C.RegistryTagQuery, { key: m.key }, w).key);
    return {};
  });
}
