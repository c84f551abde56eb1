import { randomBytes } from "node:crypto";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { apiRoutes, CairnError, isCairnError, routePermission, type Permission, type RouteDef, type RouteOutput, BINARY } from "@cairn/contract";
import type { z } from "zod";
import type { Logger } from "pino";
import { parseJsonBody } from "./json-body.js";
import { validate } from "./validate.js";
import { rawBody } from "./raw-body.js";
import { isMutating, permissionFor } from "./route-permission.js";
import { ANONYMOUS } from "../auth/principal.js";

/**
 * Authentication and authorization for API routes, installed only when auth is on (so an open
 * server pays nothing). `authenticate` runs before the body is read and sets `req.principal`;
 * `authorize` runs after parsing (it may look at the body); `filter` may drop items the caller
 * must not see from a JSON answer. Each throws `CairnError` to refuse.
 */
export interface RequestGuard {
  authenticate(req: FastifyRequest, reply: FastifyReply, token: string | undefined): Promise<void>;
  authorize(req: FastifyRequest): Promise<void>;
  filter(req: FastifyRequest, payload: unknown): Promise<unknown>;
}

/** Receives every mutating API request once its answer is ready, before the answer is sent. */
export interface RequestAuditor {
  /** Runs after authorization, before the handler (to read the resource's state before the change). */
  prepare(req: FastifyRequest): Promise<void>;
  /** Records the request with its outcome; the answer waits for it. */
  record(req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<void>;
}

export interface HttpOptions {
  bodyLimit: number;
  /** Auth on: every API route needs a valid token and the route's permission. */
  guard?: RequestGuard;
  /** Audit on: every mutating API request is recorded before it is acknowledged. */
  auditor?: RequestAuditor;
  logger: Logger;
  /** The server listens on a loopback address only: refuse requests for other host names. */
  loopbackOnly: boolean;
  /** Extra host names a loopback-only server answers to (e.g. behind a reverse proxy). */
  allowedHosts: string[];
}

/** One registered API route. */
export interface RouteInfo {
  method: string;
  url: string;
  /** What a caller needs when auth is on. */
  permission: Permission;
}

declare module "fastify" {
  interface FastifyInstance {
    /** Every API route registered so far (for route listings and the auth test matrix). */
    cairnRoutes: RouteInfo[];
  }
}

/** Whether a listen address is loopback-only. */
export function isLoopbackAddress(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

function isAllowedHost(header: string | undefined, allowed: Set<string>): boolean {
  if (!header) return true;
  const name = (header.startsWith("[") ? header.slice(1, header.indexOf("]")) : header.replace(/:\d+$/, "")).toLowerCase();
  return isLoopbackAddress(name) || name.endsWith(".localhost") || allowed.has(name);
}

function containsNul(v: unknown, depth = 0): boolean {
  if (typeof v === "string") return v.includes("\0");
  if (typeof v !== "object" || v === null || depth > 64) return false;
  for (const x of Array.isArray(v) ? v : Object.values(v)) if (containsNul(x, depth + 1)) return true;
  return false;
}

// Request ids: a random per-process prefix and a counter (a random id per request costs a syscall).
const ID_PREFIX = randomBytes(4).toString("hex");
let idCounter = 0;
function nextRequestId(): string {
  return `${ID_PREFIX}-${(++idCounter).toString(36)}`;
}

/** Paths under these prefixes are API paths: JSON errors, auth applies (deployments' inference endpoints too). */
const API_PREFIXES = ["/api/", "/ajax-api/", "/deployments/"];

export function isApiPath(url: string): boolean {
  return API_PREFIXES.some((p) => url.startsWith(p)) || url === "/metrics";
}

/**
 * Creates the Fastify instance with Cairn's cross-cutting behaviour: the error table,
 * JSON parsing that accepts MLflow's NaN tokens, the body limit (413), bearer-token auth
 * and request ids. Routes are added by the modules afterwards.
 */
export function createHttpApp(opts: HttpOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.logger as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit,
    genReqId: nextRequestId,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 4096 },
    // Errors Fastify raises before routing still answer with Cairn's error body and code.
    frameworkErrors: (err, _req, reply) => {
      const e = err.code === "FST_ERR_MAX_PARAM_LENGTH" ? new CairnError("INVALID_PARAMETER_VALUE", "A path parameter is too long") : new CairnError("BAD_REQUEST", "Malformed request URL");
      void (reply as FastifyReply).code(e.status).type("application/json").send(JSON.stringify(e.toBody()));
    },
    return503OnClosing: true,
  });

  const routes: RouteInfo[] = [];
  const guard = opts.guard;
  const auditor = opts.auditor;
  // Guard and audit hooks go on the API routes that need them, not on every request: a read pays
  // for no audit hook, and only reads get the list filter.
  const authorize = async (req: FastifyRequest) => {
    // Malformed path parameters answer 400 to every caller alike, before authorization looks anything up.
    const params = (req.routeOptions.config as { params?: z.ZodType } | undefined)?.params;
    if (params) validate(params, req.params, "path");
    return guard!.authorize(req);
  };
  const filter = async (req: FastifyRequest, _reply: FastifyReply, payload: unknown) => guard!.filter(req, payload);
  const prepare = async (req: FastifyRequest) => {
    if (isMutating(req)) await auditor!.prepare(req);
  };
  const record = async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    // Requests refused before authentication have no actor and are not recorded (failed logins are rate-limited instead).
    if (isMutating(req) && !(guard && reply.statusCode === 401) && reply.statusCode !== 429) await auditor!.record(req, reply, payload);
    return payload;
  };
  app.addHook("onRoute", (r) => {
    if (!isApiPath(r.url)) return;
    const methods = (Array.isArray(r.method) ? r.method : [r.method]).filter((m) => m !== "HEAD");
    const perms = methods.map((m) => permissionFor(m, r.url, r.config));
    methods.forEach((method, i) => routes.push({ method, url: r.url, permission: perms[i]! }));
    const mutates = methods.some((m, i) => m !== "GET" && m !== "OPTIONS" && perms[i] !== "read");
    const list = <T>(h: T | T[] | undefined): T[] => (h === undefined ? [] : Array.isArray(h) ? h : [h]);
    if (guard) r.preHandler = [...list(r.preHandler), authorize];
    if (guard && perms.includes("read")) r.preSerialization = [...list(r.preSerialization), filter as never];
    if (auditor && mutates) {
      r.preHandler = [...list(r.preHandler), prepare];
      r.onSend = [...list(r.onSend), record as never];
    }
  });
  app.decorate("cairnRoutes", routes);

  app.removeContentTypeParser(["application/json", "text/plain"]);
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, done) => {
    const text = body as string;
    if (text.length === 0) return done(null, undefined);
    let parsed: unknown;
    try {
      parsed = parseJsonBody(text);
    } catch {
      return done(new CairnError("MALFORMED_REQUEST", "Request body is not valid JSON"), undefined);
    }
    // PostgreSQL text cannot hold U+0000; refuse it for every backend alike.
    if (text.includes("\\u0000") && containsNul(parsed)) return done(new CairnError("INVALID_PARAMETER_VALUE", "Strings must not contain the NUL character (U+0000)"), undefined);
    done(null, parsed);
  });
  // Other content types (text/plain and form posts included, which browsers send cross-site without
  // asking) reach handlers as a raw stream: JSON routes reject them, raw-body routes stream them.
  app.addContentTypeParser("*", (_req, payload, done) => done(null, payload));

  const allowedHosts = new Set(opts.allowedHosts.map((h) => h.toLowerCase()));
  app.decorateRequest("principal", null as unknown as typeof ANONYMOUS);
  // One hook for every request (each hook costs a little on the hottest routes).
  app.addHook("onRequest", (req, reply, done) => {
    // DNS rebinding: a page on an attacker's name that resolves to 127.0.0.1 must not reach a loopback server.
    if (opts.loopbackOnly && !isAllowedHost(req.headers.host, allowedHosts)) {
      return done(new CairnError("PERMISSION_DENIED", `Host '${req.headers.host ?? ""}' is not allowed; a server bound to loopback answers only to localhost names and --allowed-hosts`));
    }
    if (containsNul(req.query) || containsNul(req.params)) return done(new CairnError("INVALID_PARAMETER_VALUE", "Parameters must not contain the NUL character (U+0000)"));
    // Decide on the route the router matched (decoded, canonical), never on the raw URL, which
    // can be percent-encoded (`/%61pi/...`) or absolute (`http://host/api/...`).
    const route = req.routeOptions.url;
    if (guard && route !== undefined && isApiPath(route)) {
      guard.authenticate(req, reply, tokenFrom(req.headers.authorization) ?? tokenFromCookie(req.headers.cookie)).then(() => done(), done);
      return;
    }
    done();
  });
  app.setErrorHandler((err, req, reply) => {
    const e = toCairnError(err, req);
    if (e.status >= 500) req.log.error({ err, reqId: req.id, url: req.url }, "request failed");
    if (e.code === "UNAUTHENTICATED") reply.header("www-authenticate", 'Bearer realm="cairn"');
    reply.status(e.status).send(e.toBody());
  });

  return app;
}

function tokenFrom(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.split(" ", 2);
  if (!value) return undefined;
  if (scheme?.toLowerCase() === "bearer") return value.trim();
  if (scheme?.toLowerCase() === "basic") {
    // MLflow's username/password auth: the password is the token.
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const i = decoded.indexOf(":");
    return i >= 0 ? decoded.slice(i + 1) : undefined;
  }
  return undefined;
}

/**
 * The web UI's token: a `cairn_token` cookie the UI sets when the user signs in. It is SameSite=Strict,
 * so other sites' pages cannot make the browser send it, and it lets plain links (artifact downloads) work.
 */
function tokenFromCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === "cairn_token") {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** Maps anything thrown in a request to a CairnError; unexpected errors become INTERNAL_ERROR with the request id. */
export function toCairnError(err: unknown, req: FastifyRequest): CairnError {
  if (isCairnError(err)) return err;
  const fe = err as { code?: string; statusCode?: number; message?: string };
  switch (fe.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new CairnError("PAYLOAD_TOO_LARGE", `Request body is larger than the server's limit`);
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new CairnError("UNSUPPORTED_MEDIA_TYPE", "Unsupported content type");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new CairnError("MALFORMED_REQUEST", "Request body is not valid JSON");
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new CairnError("BAD_REQUEST", "Content-Length does not match the body");
  }
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    if (fe.statusCode === 413) return new CairnError("PAYLOAD_TOO_LARGE", "Request body is too large");
    if (fe.statusCode === 404) return new CairnError("ENDPOINT_NOT_FOUND", "Not found");
    return new CairnError("BAD_REQUEST", "Bad request");
  }
  return new CairnError("INTERNAL_ERROR", `Internal error (request id ${req.id})`, { requestId: String(req.id) });
}

let operations: Map<RouteDef, string> | undefined;
/** A route's key in the contract's route table (its operation id), recorded as the audit action. */
function operationName(route: RouteDef): string | undefined {
  operations ??= new Map(Object.entries(apiRoutes).map(([name, r]) => [r as RouteDef, name]));
  return operations.get(route);
}

/** What a contract route handler receives, already validated. */
export interface RouteContext<R extends RouteDef> {
  params: R["params"] extends z.ZodType ? z.output<R["params"]> : Record<string, never>;
  query: R["query"] extends z.ZodType ? z.output<R["query"]> : Record<string, never>;
  body: R["body"] extends z.ZodType ? z.output<R["body"]> : R["body"] extends typeof BINARY ? NodeJS.ReadableStream : undefined;
  req: FastifyRequest;
  reply: FastifyReply;
}

/**
 * Registers one route of the contract: validates params, query and body with the route's
 * zod schemas (400 INVALID_PARAMETER_VALUE naming each bad field), then calls the handler.
 * The handler's return value is the JSON response (binary routes send on `reply` themselves).
 */
export function registerRoute<R extends RouteDef>(
  app: FastifyInstance,
  route: R,
  handler: (ctx: RouteContext<R>) => Promise<R["response"] extends typeof BINARY ? FastifyReply : RouteOutput<R>>,
  opts: { bodyLimit?: number } = {},
): void {
  const status = route.status ?? 200;
  app.route({
    method: route.method,
    url: route.path,
    ...(opts.bodyLimit !== undefined ? { bodyLimit: opts.bodyLimit } : {}),
    config: { permission: routePermission(route), operation: operationName(route), params: route.params },
    handler: async (req, reply) => {
      const ctx = {
        params: route.params ? validate(route.params, req.params, "path") : {},
        query: route.query ? validate(route.query, req.query, "query") : {},
        body: route.body === BINARY ? rawBody(req) : route.body ? validate(route.body, req.body ?? {}, "body") : undefined,
        req,
        reply,
      } as RouteContext<R>;
      const out = await handler(ctx);
      if (route.response === BINARY) return out;
      reply.status(status);
      return out;
    },
  });
}
