import type { FastifyInstance } from "fastify";
import { promotionRoutes as R } from "@cairn/contract";
import { actorOf } from "../../platform/auth/principal.js";
import { registerRoute } from "../../platform/http/app.js";
import type { PromotionService } from "./promotion.js";

/** The promotion API (policies under `/api/v1/models/:name`, requests under `/api/v1/promotions`): each route validates, then makes one service call. */
export function registerPromotionRoutes(app: FastifyInstance, svc: PromotionService): void {
  registerRoute(app, R.getPromotionPolicy, async ({ params }) => svc.getPolicy(params.name));
  registerRoute(app, R.setPromotionPolicy, async ({ params, body }) => svc.setPolicy(params.name, body));
  registerRoute(app, R.createPromotionRequest, async ({ params, body, req }) => ({ promotionRequest: await svc.createRequest(params.name, body, { actor: actorOf(req) }) }));
  registerRoute(app, R.listPromotionRequests, async ({ query }) => svc.listRequests(query));
  registerRoute(app, R.getPromotionRequest, async ({ params }) => ({ promotionRequest: await svc.getRequest(params.id) }));
  registerRoute(app, R.approvePromotionRequest, async ({ params, body, req }) => ({ promotionRequest: await svc.approve(params.id, body, { actor: actorOf(req) }) }));
  registerRoute(app, R.rejectPromotionRequest, async ({ params, body, req }) => ({ promotionRequest: await svc.reject(params.id, body.comment, { actor: actorOf(req) }) }));
  registerRoute(app, R.cancelPromotionRequest, async ({ params, body, req }) => ({ promotionRequest: await svc.cancel(params.id, body, { actor: actorOf(req) }) }));
  registerRoute(app, R.commentPromotionRequest, async ({ params, body, req }) => ({ promotionRequest: await svc.comment(params.id, body.text, { actor: actorOf(req) }) }));
}
