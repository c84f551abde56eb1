import type { FastifyInstance } from "fastify";
import { deploymentRoutes as R } from "@cairn/contract";
import { registerRoute } from "../../platform/http/app.js";
import { actorOf } from "../../platform/auth/principal.js";
import type { DeploymentService } from "./service.js";

/** The deployments control plane: each route validates, then makes one service call. */
export function registerDeploymentRoutes(app: FastifyInstance, svc: DeploymentService): void {
  registerRoute(app, R.createDeployment, async ({ body, req }) => svc.create(body, actorOf(req)));
  registerRoute(app, R.listDeployments, async ({ query }) => ({ deployments: await svc.list(query.model) }));
  registerRoute(app, R.getDeployment, async ({ params }) => svc.get(params.name));
  registerRoute(app, R.updateDeployment, async ({ params, body, req }) => svc.update(params.name, body, actorOf(req)));
  registerRoute(app, R.deleteDeployment, async ({ params, req }) => (await svc.delete(params.name, actorOf(req)), {}));
  registerRoute(app, R.promoteCanary, async ({ params, body, req }) => svc.promoteCanary(params.name, body.message, actorOf(req)));
  registerRoute(app, R.rollbackDeployment, async ({ params, body, req }) => svc.rollback(params.name, body, actorOf(req)));
  registerRoute(app, R.getDeploymentHistory, async ({ params, query }) => svc.history(params.name, query));
  registerRoute(app, R.getDeploymentStats, async ({ params, query }) => svc.stats(params.name, query.windowSeconds));
}
