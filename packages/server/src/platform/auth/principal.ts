import type { FastifyRequest } from "fastify";
import { roleGrants, type Permission, type ProjectRole } from "@cairn/contract";

/**
 * Who is making a request. The auth module sets it on every request before the handler runs
 * (`req.principal`). With auth off it is {@link ANONYMOUS}, which may do everything.
 */
export interface Principal {
  /** Stable user id; empty for the anonymous principal. */
  userId: string;
  /** User name, recorded as the actor in histories and the audit log. */
  name: string;
  /** Holds the global admin role (every permission in every project). */
  admin: boolean;
  /** The API token's id when the request used one. */
  tokenId?: string;
  /** Role per project (admins hold every permission regardless). */
  roles: ReadonlyMap<string, ProjectRole>;
}

/** The principal of every request when auth is off: recorded as `anonymous`, allowed everything. */
export const ANONYMOUS: Principal = Object.freeze({ userId: "", name: "anonymous", admin: true, roles: new Map() });

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the auth hook before any handler runs. */
    principal: Principal;
  }
}

/** The principal of a request ({@link ANONYMOUS} when auth is off). */
export function principalOf(req: FastifyRequest): Principal {
  return req.principal ?? ANONYMOUS;
}

/** The authenticated user's name; undefined with auth off (then clients may name themselves, as in MLflow). */
export function authenticatedUser(req: FastifyRequest): string | undefined {
  return req.principal?.name;
}

/** The actor name to record for a request's changes. */
export function actorOf(req: FastifyRequest): string {
  return principalOf(req).name;
}

/**
 * Whether a principal holds a permission in a project: admins hold all; `public` and
 * `authenticated` hold for everyone who got this far; `read`/`write`/`approve`/`manage` need a role
 * of at least viewer/editor/approver/owner there.
 */
export function holds(p: Principal, permission: Permission, project: string): boolean {
  return p.admin || roleGrants(p.roles.get(project), permission);
}

/** Whether a principal holds a permission in at least one project. */
export function holdsAnywhere(p: Principal, permission: Permission): boolean {
  if (p.admin || permission === "public" || permission === "authenticated") return true;
  for (const project of p.roles.keys()) if (holds(p, permission, project)) return true;
  return false;
}

/** Projects whose resources a request may read: undefined means all (auth off, or an admin). */
export function readableProjects(req: FastifyRequest): string[] | undefined {
  const p = principalOf(req);
  return p.admin ? undefined : [...p.roles.keys()];
}
