import { z } from "zod";
import { Int64 } from "./tracking.js";
import type { Permission, RouteDef } from "./routes.js";

/** `BINARY` from routes.ts, repeated here: routes.ts imports this module, so importing the value back would be circular. */
const BINARY = "binary" as const;

/** Limits on auth and audit data. */
export const AUTH_LIMITS = {
  userNameLength: 128,
  tokenNameLength: 200,
  projectNameLength: 128,
  projectDescriptionLength: 5000,
  /** Longest token lifetime in seconds (10 years). */
  tokenMaxLifetimeSeconds: 10 * 365 * 24 * 3600,
  auditPageDefault: 100,
  auditPageMax: 1000,
  /** Failed authentications per client address before it is locked out. */
  failedAuthLimit: 10,
  /** Window (ms) in which failed authentications are counted, and how long a lockout lasts. */
  failedAuthWindowMs: 60_000,
} as const;

/** The project every experiment and model belongs to unless it names another. */
export const DEFAULT_PROJECT = "default";
/** The reserved tag that places an experiment or a registered model in a project. */
export const PROJECT_TAG = "cairn.project";

/** Per-project roles, weakest first: each holds the permissions of the ones before it. */
export const ProjectRole = z.enum(["viewer", "editor", "approver", "owner"]);
export type ProjectRole = z.infer<typeof ProjectRole>;

const ROLE_RANK: Record<ProjectRole, number> = { viewer: 1, editor: 2, approver: 3, owner: 4 };
const NEEDED_RANK: Partial<Record<Permission, number>> = { read: 1, write: 2, approve: 3, manage: 4 };

/**
 * Whether a project role grants a permission there: `read`/`write`/`approve`/`manage` need at least
 * viewer/editor/approver/owner. `public` and `authenticated` need no role; `admin` no role grants.
 */
export function roleGrants(role: ProjectRole | undefined, permission: Permission): boolean {
  if (permission === "public" || permission === "authenticated") return true;
  const needed = NEEDED_RANK[permission];
  return needed !== undefined && role !== undefined && ROLE_RANK[role] >= needed;
}

const nameRule = (max: number) =>
  z
    .string()
    .min(1, "must not be empty")
    .max(max, `must be at most ${max} characters`)
    .regex(/^[A-Za-z0-9][\w.@-]*$/, "must start with a letter or digit and contain only letters, digits, '_', '-', '.' and '@'");

export const UserName = nameRule(AUTH_LIMITS.userNameLength);
export const ProjectName = nameRule(AUTH_LIMITS.projectNameLength);

// ---------- entities ----------

export const User = z.object({
  name: z.string(),
  admin: z.boolean(),
  createdAt: z.number(),
  /** Set when the user was disabled: their tokens stop working. */
  disabledAt: z.number().nullable(),
  /** Project name → role. */
  roles: z.record(z.string(), ProjectRole),
});
export type User = z.infer<typeof User>;

/** An API token's metadata; the secret is shown once, at creation, and never stored. */
export const ApiToken = z.object({
  id: z.string(),
  user: z.string(),
  name: z.string(),
  createdAt: z.number(),
  expiresAt: z.number().nullable(),
  revokedAt: z.number().nullable(),
  lastUsedAt: z.number().nullable(),
});
export type ApiToken = z.infer<typeof ApiToken>;

export const Project = z.object({ name: z.string(), description: z.string(), createdAt: z.number() });
export type Project = z.infer<typeof Project>;

export const ProjectMember = z.object({ user: z.string(), role: ProjectRole });
export type ProjectMember = z.infer<typeof ProjectMember>;

/** One audit record. `hash` = SHA-256 over `prevHash` and the record's canonical JSON. */
export const AuditRecord = z.object({
  seq: z.number(),
  time: z.number(),
  actor: z.string(),
  action: z.string(),
  resource: z.string(),
  before: z.unknown().nullable(),
  after: z.unknown().nullable(),
  status: z.number(),
  requestId: z.string(),
  client: z.string(),
  prevHash: z.string(),
  hash: z.string(),
});
export type AuditRecord = z.infer<typeof AuditRecord>;

// ---------- requests and responses ----------

export const WhoAmIResponse = z.object({
  authEnabled: z.boolean(),
  user: z.string(),
  admin: z.boolean(),
  roles: z.record(z.string(), ProjectRole),
});
export type WhoAmIResponse = z.infer<typeof WhoAmIResponse>;

export const CreateUserRequest = z.object({ name: UserName, admin: z.boolean().optional() });
export const UpdateUserRequest = z.object({ admin: z.boolean().optional(), disabled: z.boolean().optional() });
export const UserResponse = z.object({ user: User });
export const UsersResponse = z.object({ users: z.array(User) });

export const CreateTokenRequest = z.object({
  /** Whose token (admins only; default: the caller). */
  user: UserName.optional(),
  name: z.string().min(1, "must not be empty").max(AUTH_LIMITS.tokenNameLength, `must be at most ${AUTH_LIMITS.tokenNameLength} characters`),
  /** Lifetime in seconds; omitted means it never expires. */
  expiresInSeconds: Int64.pipe(z.number().int().min(1, "must be at least 1").max(AUTH_LIMITS.tokenMaxLifetimeSeconds, "must be at most 10 years")).optional(),
});
export type CreateTokenRequest = z.input<typeof CreateTokenRequest>;
/** The new token's secret (`cairn_…`) is in `token`, once. */
export const CreateTokenResponse = z.object({ token: z.string(), info: ApiToken });
export const TokensQuery = z.object({ user: UserName.optional() });
export const TokensResponse = z.object({ tokens: z.array(ApiToken) });

export const CreateProjectRequest = z.object({
  name: ProjectName,
  description: z.string().max(AUTH_LIMITS.projectDescriptionLength, `must be at most ${AUTH_LIMITS.projectDescriptionLength} characters`).optional(),
});
export const ProjectResponse = z.object({ project: Project });
export const ProjectsResponse = z.object({ projects: z.array(Project) });
export const SetMemberRequest = z.object({ role: ProjectRole });
export const MembersResponse = z.object({ members: z.array(ProjectMember) });

export const AuditQuery = z.object({
  /** Exact resource (`model:churn`) or a prefix ending in `*` (`model:churn*`). */
  resource: z.string().max(1000).optional(),
  actor: z.string().max(AUTH_LIMITS.userNameLength).optional(),
  /** Exact action (`registry.setAlias`) or a prefix ending in `*`. */
  action: z.string().max(200).optional(),
  since: Int64.optional(),
  until: Int64.optional(),
  /** Records with `seq` below this (paging backwards from the newest). */
  before: Int64.optional(),
  limit: Int64.pipe(z.number().int().min(1).max(AUTH_LIMITS.auditPageMax, `must be at most ${AUTH_LIMITS.auditPageMax}`)).optional(),
});
export type AuditQuery = z.input<typeof AuditQuery>;
/** Newest first; `nextBefore` pages on to older records. */
export const AuditPage = z.object({ records: z.array(AuditRecord), nextBefore: z.number().optional() });
export const AuditVerifyResponse = z.object({
  ok: z.boolean(),
  records: z.number(),
  /** The newest record's hash: keep it elsewhere to detect a truncated log later. */
  headHash: z.string(),
  /** The first record that does not verify, and why. */
  firstBadSeq: z.number().optional(),
  problem: z.string().optional(),
});
export type AuditVerifyResponse = z.infer<typeof AuditVerifyResponse>;

// ---------- routes ----------

function route<const R extends RouteDef>(r: R): R {
  return r;
}

const UserParams = z.object({ name: UserName });
const ProjectParams = z.object({ project: ProjectName });

/** Users, tokens and projects (`/api/v1/auth`, `/api/v1/projects`) and the audit log (`/api/v1/audit`). */
export const authRoutes = {
  whoAmI: route({ method: "GET", path: "/api/v1/auth/whoami", summary: "The caller's user name, admin flag and project roles", tag: "auth", response: WhoAmIResponse, permission: "authenticated" }),
  createUser: route({ method: "POST", path: "/api/v1/auth/users", summary: "Create a user", tag: "auth", body: CreateUserRequest, response: UserResponse, status: 201, permission: "admin" }),
  listUsers: route({ method: "GET", path: "/api/v1/auth/users", summary: "List users with their roles", tag: "auth", response: UsersResponse, permission: "admin" }),
  updateUser: route({ method: "PATCH", path: "/api/v1/auth/users/:name", summary: "Grant or drop admin, disable or enable a user", tag: "auth", params: UserParams, body: UpdateUserRequest, response: UserResponse, permission: "admin" }),
  createToken: route({ method: "POST", path: "/api/v1/auth/tokens", summary: "Create an API token (shown once); admins may create one for any user", tag: "auth", body: CreateTokenRequest, response: CreateTokenResponse, status: 201, permission: "authenticated" }),
  listTokens: route({ method: "GET", path: "/api/v1/auth/tokens", summary: "List the caller's tokens (admins: any user's, or all)", tag: "auth", query: TokensQuery, response: TokensResponse, permission: "authenticated" }),
  revokeToken: route({ method: "DELETE", path: "/api/v1/auth/tokens/:id", summary: "Revoke a token (own, or any as admin)", tag: "auth", params: z.object({ id: z.string().min(1).max(64) }), response: z.object({ token: ApiToken }), permission: "authenticated" }),
  createProject: route({ method: "POST", path: "/api/v1/projects", summary: "Create a project", tag: "auth", body: CreateProjectRequest, response: ProjectResponse, status: 201, permission: "admin" }),
  listProjects: route({ method: "GET", path: "/api/v1/projects", summary: "Projects the caller holds a role in (admins: all)", tag: "auth", response: ProjectsResponse, permission: "authenticated" }),
  listMembers: route({ method: "GET", path: "/api/v1/projects/:project/members", summary: "A project's members and roles", tag: "auth", params: ProjectParams, response: MembersResponse, permission: "read" }),
  setMember: route({ method: "PUT", path: "/api/v1/projects/:project/members/:name", summary: "Give a user a role in a project", tag: "auth", params: ProjectParams.extend({ name: UserName }), body: SetMemberRequest, response: MembersResponse, permission: "manage" }),
  removeMember: route({ method: "DELETE", path: "/api/v1/projects/:project/members/:name", summary: "Remove a user's role in a project", tag: "auth", params: ProjectParams.extend({ name: UserName }), response: MembersResponse, permission: "manage" }),

  listAudit: route({ method: "GET", path: "/api/v1/audit", summary: "Audit records, newest first, filtered by resource, actor, action and time", tag: "audit", query: AuditQuery, response: AuditPage, permission: "admin" }),
  exportAudit: route({ method: "GET", path: "/api/v1/audit/export", summary: "The audit log as JSON lines, oldest first (streamed)", tag: "audit", query: AuditQuery.omit({ before: true, limit: true }), response: BINARY, responseType: "application/x-ndjson", permission: "admin" }),
  verifyAudit: route({ method: "GET", path: "/api/v1/audit/verify", summary: "Recompute the audit log's hash chain and report the first break", tag: "audit", response: AuditVerifyResponse, permission: "admin" }),
} as const satisfies Record<string, RouteDef>;

export type AuthRoutes = typeof authRoutes;
