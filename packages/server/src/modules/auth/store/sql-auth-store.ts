import { CairnError, ProjectRole, type ApiToken, type Project, type ProjectMember } from "@cairn/contract";
import type { Kysely } from "kysely";
import { isUniqueViolation, migrate, type Database } from "../../../platform/db/database.js";
import { authMigrations } from "./migrations.js";
import type { AuthStore, StoredToken, StoredUser } from "./auth-store.js";

const noUser = (name: string) => new CairnError("RESOURCE_DOES_NOT_EXIST", `User '${name}' not found`);
const noProject = (name: string) => new CairnError("RESOURCE_DOES_NOT_EXIST", `Project '${name}' not found`);

type TokenRow = { id: string; user_name: string; name: string; secret_hash: string; created_at: number; expires_at: number | null; revoked_at: number | null; last_used_at: number | null };

function toToken(r: TokenRow): StoredToken {
  return { id: r.id, user: r.user_name, name: r.name, secretHash: r.secret_hash, createdAt: Number(r.created_at), expiresAt: r.expires_at === null ? null : Number(r.expires_at), revokedAt: r.revoked_at === null ? null : Number(r.revoked_at), lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at) };
}

function publicToken(t: StoredToken): ApiToken {
  const { secretHash: _omit, ...rest } = t;
  return rest;
}

/** The auth store over Kysely, for SQLite and PostgreSQL alike. */
export class SqlAuthStore implements AuthStore {
  readonly #k: Kysely<any>;
  readonly #pg: boolean;

  constructor(db: Database) {
    this.#k = db.kysely;
    this.#pg = db.kind === "postgres";
  }

  #bool(v: boolean): boolean | number {
    return this.#pg ? v : v ? 1 : 0;
  }

  async createUser(input: { name: string; admin: boolean; time: number }): Promise<StoredUser> {
    try {
      await this.#k.insertInto("auth_users").values({ name: input.name, admin: this.#bool(input.admin), created_at: input.time, disabled_at: null }).execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw new CairnError("RESOURCE_ALREADY_EXISTS", `User '${input.name}' already exists`);
      throw e;
    }
    return (await this.getUser(input.name))!;
  }

  async getUser(name: string): Promise<StoredUser | undefined> {
    const row = await this.#k.selectFrom("auth_users").selectAll().where("name", "=", name).executeTakeFirst();
    if (!row) return undefined;
    const roles = await this.#k.selectFrom("auth_project_members").select(["project", "role"]).where("user_name", "=", name).execute();
    return this.#user(row, roles);
  }

  #user(row: Record<string, any>, roles: { project: string; role: string }[]): StoredUser {
    return {
      name: row.name,
      admin: Boolean(row.admin),
      createdAt: Number(row.created_at),
      disabledAt: row.disabled_at === null ? null : Number(row.disabled_at),
      roles: Object.fromEntries(roles.map((r) => [r.project, ProjectRole.parse(r.role)])),
    };
  }

  async listUsers(): Promise<StoredUser[]> {
    const rows = await this.#k.selectFrom("auth_users").selectAll().orderBy("name").execute();
    const roles = await this.#k.selectFrom("auth_project_members").select(["user_name", "project", "role"]).execute();
    return rows.map((r) => this.#user(r, roles.filter((x) => x.user_name === r.name)));
  }

  async updateUser(name: string, patch: { admin?: boolean; disabledAt?: number | null }): Promise<StoredUser> {
    const set: Record<string, unknown> = {};
    if (patch.admin !== undefined) set.admin = this.#bool(patch.admin);
    if (patch.disabledAt !== undefined) set.disabled_at = patch.disabledAt;
    if (Object.keys(set).length > 0) {
      const r = await this.#k.updateTable("auth_users").set(set).where("name", "=", name).executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) throw noUser(name);
    }
    const u = await this.getUser(name);
    if (!u) throw noUser(name);
    return u;
  }

  async hasLiveAdminToken(now: number): Promise<boolean> {
    const row = await this.#k
      .selectFrom("auth_tokens as t")
      .innerJoin("auth_users as u", "u.name", "t.user_name")
      .select("t.id")
      .where("u.admin", "=", this.#bool(true))
      .where("u.disabled_at", "is", null)
      .where("t.revoked_at", "is", null)
      .where((eb) => eb.or([eb("t.expires_at", "is", null), eb("t.expires_at", ">", now)]))
      .executeTakeFirst();
    return row !== undefined;
  }

  async createToken(input: { id: string; user: string; name: string; secretHash: string; time: number; expiresAt: number | null }): Promise<ApiToken> {
    if (!(await this.getUser(input.user))) throw noUser(input.user);
    await this.#k
      .insertInto("auth_tokens")
      .values({ id: input.id, user_name: input.user, name: input.name, secret_hash: input.secretHash, created_at: input.time, expires_at: input.expiresAt, revoked_at: null, last_used_at: null })
      .execute();
    return publicToken((await this.getToken(input.id))!);
  }

  async getToken(id: string): Promise<StoredToken | undefined> {
    const row = await this.#k.selectFrom("auth_tokens").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? toToken(row as TokenRow) : undefined;
  }

  async listTokens(user?: string): Promise<ApiToken[]> {
    let q = this.#k.selectFrom("auth_tokens").selectAll().orderBy("created_at").orderBy("id");
    if (user !== undefined) q = q.where("user_name", "=", user);
    return (await q.execute()).map((r) => publicToken(toToken(r as TokenRow)));
  }

  async revokeToken(id: string, time: number): Promise<ApiToken> {
    // Revoking twice keeps the first revocation time.
    await this.#k.updateTable("auth_tokens").set({ revoked_at: time }).where("id", "=", id).where("revoked_at", "is", null).execute();
    const t = await this.getToken(id);
    if (!t) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Token '${id}' not found`);
    return publicToken(t);
  }

  async touchToken(id: string, time: number): Promise<void> {
    await this.#k.updateTable("auth_tokens").set({ last_used_at: time }).where("id", "=", id).execute();
  }

  async createProject(input: { name: string; description: string; time: number }): Promise<Project> {
    try {
      await this.#k.insertInto("auth_projects").values({ name: input.name, description: input.description, created_at: input.time }).execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw new CairnError("RESOURCE_ALREADY_EXISTS", `Project '${input.name}' already exists`);
      throw e;
    }
    return { name: input.name, description: input.description, createdAt: input.time };
  }

  async getProject(name: string): Promise<Project | undefined> {
    const r = await this.#k.selectFrom("auth_projects").selectAll().where("name", "=", name).executeTakeFirst();
    return r ? { name: r.name, description: r.description, createdAt: Number(r.created_at) } : undefined;
  }

  async listProjects(names?: string[]): Promise<Project[]> {
    if (names !== undefined && names.length === 0) return [];
    let q = this.#k.selectFrom("auth_projects").selectAll().orderBy("name");
    if (names !== undefined) q = q.where("name", "in", names);
    return (await q.execute()).map((r) => ({ name: r.name, description: r.description, createdAt: Number(r.created_at) }));
  }

  async listMembers(project: string): Promise<ProjectMember[]> {
    if (!(await this.getProject(project))) throw noProject(project);
    const rows = await this.#k.selectFrom("auth_project_members").select(["user_name", "role"]).where("project", "=", project).orderBy("user_name").execute();
    return rows.map((r) => ({ user: r.user_name, role: ProjectRole.parse(r.role) }));
  }

  async setMember(project: string, user: string, role: ProjectRole): Promise<void> {
    await this.#k.transaction().execute(async (trx) => {
      if (!(await trx.selectFrom("auth_projects").select("name").where("name", "=", project).executeTakeFirst())) throw noProject(project);
      if (!(await trx.selectFrom("auth_users").select("name").where("name", "=", user).executeTakeFirst())) throw noUser(user);
      await trx
        .insertInto("auth_project_members")
        .values({ project, user_name: user, role })
        .onConflict((oc) => oc.columns(["project", "user_name"]).doUpdateSet({ role }))
        .execute();
    });
  }

  async removeMember(project: string, user: string): Promise<void> {
    if (!(await this.getProject(project))) throw noProject(project);
    const r = await this.#k.deleteFrom("auth_project_members").where("project", "=", project).where("user_name", "=", user).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `User '${user}' holds no role in project '${project}'`);
  }

  async close(): Promise<void> {}
}

/**
 * Migrates the auth tables and returns the store.
 * @example const auth = await createAuthStore(await openDatabase("sqlite::memory:"));
 */
export async function createAuthStore(db: Database): Promise<AuthStore> {
  await migrate(db, authMigrations);
  return new SqlAuthStore(db);
}
