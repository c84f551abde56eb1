import type { FastifyRequest } from "fastify";
import type { Permission } from "@cairn/contract";

/** MLflow POSTs that only read. */
const MLFLOW_READ_POSTS = /\/(search|list|get-latest-versions)$|\/get-history-bulk-interval$/;

/**
 * The permission a request's route needs: from the contract for native routes (put on the route's
 * config by `registerRoute`), else MLflow's convention: GET and the search/list POSTs read, the rest write.
 */
export function permissionOf(req: FastifyRequest): Permission {
  return permissionFor(req.method, req.routeOptions.url ?? "", req.routeOptions.config);
}

/** The permission of a route from its method, path and config (see {@link permissionOf}). */
export function permissionFor(method: string, url: string, config: unknown): Permission {
  const declared = (config as { permission?: Permission } | undefined)?.permission;
  if (declared) return declared;
  if (method === "GET" || method === "HEAD") return "read";
  return MLFLOW_READ_POSTS.test(url) ? "read" : "write";
}

/** Whether a request changes state (and so is audited): anything but a read. */
export function isMutating(req: FastifyRequest): boolean {
  return req.method !== "GET" && req.method !== "HEAD" && req.method !== "OPTIONS" && permissionOf(req) !== "read";
}

/** The operation id of a native route (its key in the contract's route table), put on the route's config. */
export function operationOf(req: FastifyRequest): string | undefined {
  return (req.routeOptions.config as { operation?: string } | undefined)?.operation;
}

export { MLFLOW_READ_POSTS };
