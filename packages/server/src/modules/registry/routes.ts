import type { FastifyInstance } from "fastify";
import { registryRoutes as R } from "@cairn/contract";
import { actorOf, readableProjects } from "../../platform/auth/principal.js";
import { registerRoute } from "../../platform/http/app.js";
import { registerPromotionRoutes } from "./promotion-routes.js";
import type { RegistryService } from "./service.js";

/** The native model-registry API (`/api/v1/models`): each route validates, then makes one service call. */
export function registerRegistryRoutes(app: FastifyInstance, svc: RegistryService): void {
  registerRoute(app, R.createRegisteredModel, async ({ body, req }) => ({ registeredModel: await svc.createRegisteredModel(body, { actor: actorOf(req) }) }));
  registerRoute(app, R.searchRegisteredModels, async ({ body, req }) => svc.searchRegisteredModels(body, { projects: readableProjects(req) }));
  registerRoute(app, R.getRegisteredModel, async ({ params }) => ({ registeredModel: await svc.getRegisteredModel(params.name) }));
  registerRoute(app, R.renameRegisteredModel, async ({ params, body }) => ({ registeredModel: await svc.renameRegisteredModel(params.name, body.newName) }));
  registerRoute(app, R.updateRegisteredModel, async ({ params, body }) => ({ registeredModel: await svc.updateRegisteredModel(params.name, body.description) }));
  registerRoute(app, R.deleteRegisteredModel, async ({ params }) => (await svc.deleteRegisteredModel(params.name), {}));
  registerRoute(app, R.setRegisteredModelTag, async ({ params, body }) => (await svc.setRegisteredModelTag(params.name, body.key, body.value), {}));
  registerRoute(app, R.deleteRegisteredModelTag, async ({ params, query }) => (await svc.deleteRegisteredModelTag(params.name, query.key), {}));

  registerRoute(app, R.setAlias, async ({ params, body, req }) => (await svc.setAlias(params.name, params.alias, body.version, { actor: actorOf(req) }), {}));
  registerRoute(app, R.deleteAlias, async ({ params, req }) => (await svc.deleteAlias(params.name, params.alias, { actor: actorOf(req) }), {}));
  registerRoute(app, R.getAlias, async ({ params }) => ({ modelVersion: await svc.getModelVersionByAlias(params.name, params.alias) }));
  registerRoute(app, R.getAliasHistory, async ({ params, query }) => svc.getAliasHistory(params.name, params.alias, query.at));

  registerRoute(app, R.createModelVersion, async ({ params, body, req }) => ({ modelVersion: await svc.createModelVersion(params.name, body, { actor: actorOf(req) }) }));
  registerRoute(app, R.searchModelVersions, async ({ body, req }) => svc.searchModelVersions(body, { projects: readableProjects(req) }));
  registerRoute(app, R.getModelVersion, async ({ params }) => ({ modelVersion: await svc.getModelVersion(params.name, params.version) }));
  registerRoute(app, R.updateModelVersion, async ({ params, body }) => ({ modelVersion: await svc.updateModelVersion(params.name, params.version, body.description) }));
  registerRoute(app, R.deleteModelVersion, async ({ params, req }) => (await svc.deleteModelVersion(params.name, params.version, { actor: actorOf(req) }), {}));
  registerRoute(app, R.setModelVersionTag, async ({ params, body }) => (await svc.setModelVersionTag(params.name, params.version, body.key, body.value), {}));
  registerRoute(app, R.deleteModelVersionTag, async ({ params, query }) => (await svc.deleteModelVersionTag(params.name, params.version, query.key), {}));
  registerRoute(app, R.transitionModelVersionStage, async ({ params, body }) => ({ modelVersion: await svc.transitionModelVersionStage(params.name, params.version, body) }));
  registerRoute(app, R.setModelVersionSignature, async ({ params, body }) => ({ modelVersion: await svc.setSignature(params.name, params.version, body.signature) }));
  registerRoute(app, R.retireModelVersion, async ({ params, body }) => ({ modelVersion: await svc.retireModelVersion(params.name, params.version, body) }));
  registerRoute(app, R.unretireModelVersion, async ({ params }) => ({ modelVersion: await svc.unretireModelVersion(params.name, params.version) }));
  registerRoute(app, R.getCompatibility, async ({ params, query }) => svc.compatibility(params.name, query.from, query.to));
  registerRoute(app, R.setModelCard, async ({ params, body }) => svc.setCard(params.name, body));
  registerRoute(app, R.getModelCard, async ({ params, query }) => svc.getCard(params.name, query.version));
  registerRoute(app, R.getModelCardMarkdown, async ({ params, query, reply }) => reply.type("text/markdown; charset=utf-8").send(await svc.getCardMarkdown(params.name, query.version)));
  registerRoute(app, R.getModelVersionDownloadUri, async ({ params }) => ({ artifactUri: await svc.getDownloadUri(params.name, params.version) }));
  registerPromotionRoutes(app, svc.promotions);
}
