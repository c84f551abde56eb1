import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { CairnError, DEFAULT_PROJECT, type ApiToken, type Project, type ProjectMember, type ProjectRole, type User } from "@cairn/contract";
import type { Principal } from "../../platform/auth/principal.js";
import type { AuthStore } from "./store/auth-store.js";

const TOKEN_PREFIX = "cairn_";
const ID_HEX = 12;
/** How long a verified token is trusted without looking at the database again (bounds revocation lag across servers). */
const CACHE_TTL_MS = 5_000;
/** `lastUsedAt` is written at most this often per token (a write per request would cost more than the request). */
const TOUCH_INTERVAL_MS = 60_000;
/** The principal name of the static `--auth-tokens` tokens. */
export const STATIC_ADMIN = "admin";

function sha256(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/** Splits `cairn_<12 hex id>_<secret>`; undefined for anything else. */
function parseToken(token: string): { id: string; secret: string } | undefined {
  if (!token.startsWith(TOKEN_PREFIX) || token.length < TOKEN_PREFIX.length + ID_HEX + 2) return undefined;
  const id = token.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + ID_HEX);
  if (!/^[0-9a-f]+$/.test(id) || token[TOKEN_PREFIX.length + ID_HEX] !== "_") return undefined;
  return { id, secret: token.slice(TOKEN_PREFIX.length + ID_HEX + 1) };
}

const unauthenticated = (msg: string) => new CairnError("UNAUTHENTICATED", msg);

/**
 * Users, API tokens, projects and project roles, and turning a presented token into a
 * {@link Principal}. Tokens are `cairn_<id>_<secret>`: the id finds the row, and the SHA-256 of
 * the secret is compared in constant time with the stored hash (the secret itself is never stored).
 * Throws `CairnError`: UNAUTHENTICATED for a bad, expired or revoked token or a disabled user;
 * RESOURCE_DOES_NOT_EXIST / RESOURCE_ALREADY_EXISTS from the store; PERMISSION_DENIED when a
 * non-admin acts on another user's tokens; INVALID_PARAMETER_VALUE for self-lockout changes.
 */
export class AuthService {
  readonly #store: AuthStore;
  readonly #static: Buffer[];
  readonly #cache = new Map<string, { principal: Principal; expiresAt: number | null; until: number }>();
  readonly #touched = new Map<string, number>();

  /** @param staticTokens tokens from `--auth-tokens`: each authenticates as the built-in admin. */
  constructor(store: AuthStore, staticTokens: string[] = []) {
    this.#store = store;
    this.#static = staticTokens.map((t) => sha256(t));
  }

  /**
   * The principal a token stands for.
   * @throws CairnError UNAUTHENTICATED when the token is unknown, malformed, expired or revoked, or its user is disabled
   */
  async authenticate(token: string, now = Date.now()): Promise<Principal> {
    const cached = this.#cache.get(token);
    if (cached && cached.until > now) {
      if (cached.expiresAt !== null && cached.expiresAt <= now) throw unauthenticated("Token expired");
      this.#touch(cached.principal.tokenId, now);
      return cached.principal;
    }
    const digest = sha256(token);
    if (this.#static.some((h) => timingSafeEqual(h, digest))) {
      const principal: Principal = { userId: STATIC_ADMIN, name: STATIC_ADMIN, admin: true, roles: new Map() };
      this.#remember(token, principal, null, now);
      return principal;
    }
    const parsed = parseToken(token);
    if (!parsed) throw unauthenticated("Invalid token");
    const row = await this.#store.getToken(parsed.id);
    if (!row || !timingSafeEqual(Buffer.from(row.secretHash, "hex"), sha256(parsed.secret))) throw unauthenticated("Invalid token");
    if (row.revokedAt !== null) throw unauthenticated("Token revoked");
    if (row.expiresAt !== null && row.expiresAt <= now) throw unauthenticated("Token expired");
    const user = await this.#store.getUser(row.user);
    if (!user || user.disabledAt !== null) throw unauthenticated("User disabled");
    const principal: Principal = { userId: user.name, name: user.name, admin: user.admin, tokenId: row.id, roles: new Map(Object.entries(user.roles)) };
    this.#remember(token, principal, row.expiresAt, now);
    this.#touch(row.id, now);
    return principal;
  }

  #remember(token: string, principal: Principal, expiresAt: number | null, now: number): void {
    // Bounded: a flood of distinct valid tokens is impossible, but stay safe against growth anyway.
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(token, { principal, expiresAt, until: now + CACHE_TTL_MS });
  }

  #touch(tokenId: string | undefined, now: number): void {
    if (!tokenId) return;
    const last = this.#touched.get(tokenId) ?? 0;
    if (now - last < TOUCH_INTERVAL_MS) return;
    this.#touched.set(tokenId, now);
    this.#store.touchToken(tokenId, now).catch(() => {});
  }

  /** Forgets every cached token, so a change of roles, admin flag or revocation applies at once on this server. */
  #invalidate(): void {
    this.#cache.clear();
  }

  // ---------- users ----------

  /** @throws CairnError RESOURCE_ALREADY_EXISTS */
  async createUser(name: string, admin = false): Promise<User> {
    return this.#store.createUser({ name, admin, time: Date.now() });
  }

  async listUsers(): Promise<User[]> {
    return this.#store.listUsers();
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST; INVALID_PARAMETER_VALUE when an admin would disable or demote themself */
  async updateUser(name: string, patch: { admin?: boolean; disabled?: boolean }, by: Principal): Promise<User> {
    if (name === by.name && (patch.admin === false || patch.disabled === true)) {
      throw new CairnError("INVALID_PARAMETER_VALUE", "You cannot disable yourself or drop your own admin role; ask another admin");
    }
    const u = await this.#store.updateUser(name, { admin: patch.admin, disabledAt: patch.disabled === undefined ? undefined : patch.disabled ? Date.now() : null });
    this.#invalidate();
    return u;
  }

  // ---------- tokens ----------

  /**
   * Creates a token for `user` (default: the caller) and returns its secret once.
   * @throws CairnError PERMISSION_DENIED when a non-admin asks for another user's token; RESOURCE_DOES_NOT_EXIST for an unknown user
   */
  async createToken(by: Principal, req: { user?: string; name: string; expiresInSeconds?: number }): Promise<{ token: string; info: ApiToken }> {
    const user = req.user ?? by.name;
    if (user !== by.name && !by.admin) throw new CairnError("PERMISSION_DENIED", "Only admins create tokens for other users");
    if (by.userId === STATIC_ADMIN && user === STATIC_ADMIN && !(await this.#store.getUser(STATIC_ADMIN))) {
      // The static admin has no user row; give it one so its tokens have an owner.
      await this.#store.createUser({ name: STATIC_ADMIN, admin: true, time: Date.now() });
    }
    return this.issueToken(user, req.name, req.expiresInSeconds);
  }

  /** Issues a token for a user without a caller check (server bootstrap and tests). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async issueToken(user: string, name: string, expiresInSeconds?: number): Promise<{ token: string; info: ApiToken }> {
    const id = randomBytes(ID_HEX / 2).toString("hex");
    const secret = randomBytes(32).toString("base64url");
    const now = Date.now();
    const info = await this.#store.createToken({ id, user, name, secretHash: sha256(secret).toString("hex"), time: now, expiresAt: expiresInSeconds === undefined ? null : now + expiresInSeconds * 1000 });
    return { token: `${TOKEN_PREFIX}${id}_${secret}`, info };
  }

  /** The caller's tokens; admins may name a user, or omit it to see everyone's. @throws CairnError PERMISSION_DENIED */
  async listTokens(by: Principal, user?: string): Promise<ApiToken[]> {
    if (user !== undefined && user !== by.name && !by.admin) throw new CairnError("PERMISSION_DENIED", "Only admins list other users' tokens");
    return this.#store.listTokens(user ?? (by.admin ? undefined : by.name));
  }

  /**
   * Revokes a token at once (on every server within the cache's few seconds).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (also for another user's token when the caller is not an admin, so ids do not leak)
   */
  async revokeToken(by: Principal, id: string): Promise<ApiToken> {
    const t = await this.#store.getToken(id);
    if (!t || (t.user !== by.name && !by.admin)) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Token '${id}' not found`);
    const out = await this.#store.revokeToken(id, Date.now());
    this.#invalidate();
    return out;
  }

  /** Creates the first admin and a token for it unless an admin token is already live; the token is returned once. */
  async bootstrapAdmin(name = "admin"): Promise<string | undefined> {
    if (await this.#store.hasLiveAdminToken(Date.now())) return undefined;
    const existing = await this.#store.getUser(name);
    if (!existing) await this.#store.createUser({ name, admin: true, time: Date.now() });
    else if (!existing.admin || existing.disabledAt !== null) await this.#store.updateUser(name, { admin: true, disabledAt: null });
    return (await this.issueToken(name, "bootstrap")).token;
  }

  // ---------- projects ----------

  /** @throws CairnError RESOURCE_ALREADY_EXISTS */
  async createProject(name: string, description = ""): Promise<Project> {
    return this.#store.createProject({ name, description, time: Date.now() });
  }

  /** Projects the caller may see: all for admins, else those they hold a role in. */
  async listProjects(by: Principal): Promise<Project[]> {
    return this.#store.listProjects(by.admin ? undefined : [...by.roles.keys()]);
  }

  /** Whether a project exists. */
  async projectExists(name: string): Promise<boolean> {
    return name === DEFAULT_PROJECT || (await this.#store.getProject(name)) !== undefined;
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async listMembers(project: string): Promise<ProjectMember[]> {
    return this.#store.listMembers(project);
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown project or user */
  async setMember(project: string, user: string, role: ProjectRole): Promise<ProjectMember[]> {
    await this.#store.setMember(project, user, role);
    this.#invalidate();
    return this.#store.listMembers(project);
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST when the user holds no role there */
  async removeMember(project: string, user: string): Promise<ProjectMember[]> {
    await this.#store.removeMember(project, user);
    this.#invalidate();
    return this.#store.listMembers(project);
  }
}
