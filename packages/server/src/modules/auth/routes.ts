import type { FastifyInstance } from "fastify";
import { authRoutes as R } from "@cairn/contract";
import { principalOf } from "../../platform/auth/principal.js";
import { registerRoute } from "../../platform/http/app.js";
import type { AuthService } from "./service.js";

/** Users, tokens and projects (`/api/v1/auth`, `/api/v1/projects`): each route validates, then makes one service call. */
export function registerAuthRoutes(app: FastifyInstance, svc: AuthService, authEnabled: boolean): void {
  registerRoute(app, R.whoAmI, async ({ req }) => {
    const p = principalOf(req);
    return { authEnabled, user: p.name, admin: p.admin, roles: Object.fromEntries(p.roles) };
  });
  registerRoute(app, R.createUser, async ({ body }) => ({ user: await svc.createUser(body.name, body.admin ?? false) }));
  registerRoute(app, R.listUsers, async () => ({ users: await svc.listUsers() }));
  registerRoute(app, R.updateUser, async ({ params, body, req }) => ({ user: await svc.updateUser(params.name, body, principalOf(req)) }));
  registerRoute(app, R.createToken, async ({ body, req }) => svc.createToken(principalOf(req), body));
  registerRoute(app, R.listTokens, async ({ query, req }) => ({ tokens: await svc.listTokens(principalOf(req), query.user) }));
  registerRoute(app, R.revokeToken, async ({ params, req }) => ({ token: await svc.revokeToken(principalOf(req), params.id) }));
  registerRoute(app, R.createProject, async ({ body }) => ({ project: await svc.createProject(body.name, body.description) }));
  registerRoute(app, R.listProjects, async ({ req }) => ({ projects: await svc.listProjects(principalOf(req)) }));
  registerRoute(app, R.listMembers, async ({ params }) => ({ members: await svc.listMembers(params.project) }));
  registerRoute(app, R.setMember, async ({ params, body }) => ({ members: await svc.setMember(params.project, params.name, body.role) }));
  registerRoute(app, R.removeMember, async ({ params }) => ({ members: await svc.removeMember(params.project, params.name) }));
}
