import { CairnError, DEFAULT_PROJECT, PROJECT_TAG, type AliasHistoryEntry, type ModelCard, type ModelFlavor, type ModelSignature, type Retirement, type RetirementState, type ModelStage, type ModelVersion, type ModelVersionStatus, type RegisteredModel } from "@cairn/contract";
import { sql, type Expression, type Kysely, type SqlBool } from "kysely";
import type BetterSqlite3 from "better-sqlite3";
import { migrate, type Database } from "../../../platform/db/database.js";
import type { RegistryFilterTerm, RegistryOrderKey } from "../search.js";
import { registryMigrations } from "./migrations.js";
import type { PromotionStore } from "./promotion-store.js";
import { protectedAliasError, protectedAliases, SqlPromotionStore } from "./sql-promotion-store.js";
import type { Change, ModelState, ModelVersionPatch, NewModelVersion, NewRegisteredModel, RegistrySearchQuery, RegistryStore, StoredModelCard, TagTarget } from "./registry-store.js";

export { registryMigrations } from "./migrations.js";

interface ModelRow {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  user_id: string;
  description: string;
}
interface VersionRow {
  name: string;
  version: number;
  creation_timestamp: number;
  last_updated_timestamp: number;
  user_id: string;
  current_stage: string;
  description: string;
  source: string;
  run_id: string;
  run_link: string;
  status: string;
  status_message: string;
  signature: string | null;
  retirement_state: string | null;
  retirement_reason: string | null;
  retirement_time: number | null;
  flavors: string | null;
}

const noModel = (name: string) => new CairnError("RESOURCE_DOES_NOT_EXIST", `Registered model '${name}' not found`);
const noVersion = (name: string, version: number) => new CairnError("RESOURCE_DOES_NOT_EXIST", `Model version '${name}' version ${version} not found`);
const modelExists = (name: string) => new CairnError("RESOURCE_ALREADY_EXISTS", `Registered model '${name}' already exists`);

function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}

/** The model named by `name` is in one of `projects` (its `cairn.project` tag, `default` without one). */
function inProjects(name: Expression<unknown>, projects: readonly string[]): Expression<SqlBool> {
  if (projects.length === 0) return sql<SqlBool>`1 = 0`;
  return sql<SqlBool>`COALESCE((SELECT p.value FROM registered_model_tags p WHERE p.name = ${name} AND p.key = ${PROJECT_TAG}), ${DEFAULT_PROJECT}) IN (${sql.join(projects.map((x) => sql`${x}`))})`;
}

/**
 * The registry store over Kysely, for SQLite and PostgreSQL alike (the SQL is portable: ILIKE is
 * written `lower(x) LIKE lower(p)`, upserts use ON CONFLICT). Every write runs in one transaction.
 */
export class SqlRegistryStore implements RegistryStore {
  readonly backend: "sqlite" | "postgres";
  readonly #k: Kysely<any>;
  readonly promotions: PromotionStore;

  readonly #sqlite?: BetterSqlite3.Database;
  #modelStateStmt?: BetterSqlite3.Statement<[string], { description: string; tags: string; aliases: string }>;

  constructor(db: Database) {
    this.backend = db.kind;
    this.#k = db.kysely;
    this.#sqlite = db.sqlite;
    this.promotions = new SqlPromotionStore(db.kysely);
  }

  // ---------- registered models ----------

  async createRegisteredModel(input: NewRegisteredModel): Promise<RegisteredModel> {
    try {
      await this.#k.transaction().execute(async (trx) => {
        const exists = await trx.selectFrom("registered_models").select("name").where("name", "=", input.name).executeTakeFirst();
        if (exists) throw modelExists(input.name);
        await trx
          .insertInto("registered_models")
          .values({ name: input.name, creation_timestamp: input.time, last_updated_timestamp: input.time, user_id: input.userId, description: input.description, next_version: 1 })
          .execute();
        const tags = Object.entries(input.tags);
        if (tags.length) await trx.insertInto("registered_model_tags").values(tags.map(([key, value]) => ({ name: input.name, key, value }))).execute();
      });
    } catch (e) {
      // Two creators racing past the check meet the primary key instead.
      if (isUniqueViolation(e)) throw modelExists(input.name);
      throw e;
    }
    return (await this.getRegisteredModel(input.name))!;
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel | undefined> {
    const row = (await this.#k.selectFrom("registered_models").selectAll().where("name", "=", name).executeTakeFirst()) as ModelRow | undefined;
    return row ? (await this.#hydrateModels(this.#k, [row]))[0] : undefined;
  }

  async getModelState(name: string): Promise<ModelState | undefined> {
    let row: { description: string; tags: string; aliases: string } | undefined;
    if (this.#sqlite) {
      // It runs on every audited model change, so SQLite reads with a prepared statement. While a Kysely
      // transaction is open on the shared connection, wait for it: its uncommitted rows would show.
      const stmt = (this.#modelStateStmt ??= this.#sqlite.prepare(
        `select m.description,
           (select coalesce(json_group_object(t.key, t.value), '{}') from registered_model_tags t where t.name = m.name) as tags,
           (select coalesce(json_group_object(a.alias, cast(a.version as text)), '{}') from registered_model_aliases a where a.name = m.name) as aliases
         from registered_models m where m.name = ?`,
      ));
      row = this.#sqlite.inTransaction ? await this.#k.connection().execute(async () => stmt.get(name)) : stmt.get(name);
    } else {
      row = (
        await sql<{ description: string; tags: string; aliases: string }>`
          select m.description,
            (select coalesce(json_object_agg(t.key, t.value)::text, '{}') from registered_model_tags t where t.name = m.name) as tags,
            (select coalesce(json_object_agg(a.alias, a.version::text)::text, '{}') from registered_model_aliases a where a.name = m.name) as aliases
          from registered_models m where m.name = ${name}`.execute(this.#k)
      ).rows[0];
    }
    return row ? { description: row.description, tags: JSON.parse(row.tags), aliases: JSON.parse(row.aliases) } : undefined;
  }

  async updateRegisteredModel(name: string, patch: { newName?: string; description?: string; time: number }): Promise<RegisteredModel> {
    const target = patch.newName ?? name;
    try {
      await this.#k.transaction().execute(async (trx) => {
        await this.#requireModel(trx, name);
        if (patch.newName !== undefined && patch.newName !== name) {
          const taken = await trx.selectFrom("registered_models").select("name").where("name", "=", patch.newName).executeTakeFirst();
          if (taken) throw modelExists(patch.newName);
        }
        const set: Record<string, unknown> = { last_updated_timestamp: patch.time };
        if (patch.newName !== undefined) set.name = patch.newName;
        if (patch.description !== undefined) set.description = patch.description;
        await trx.updateTable("registered_models").set(set).where("name", "=", name).execute();
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw modelExists(target);
      throw e;
    }
    return (await this.getRegisteredModel(target))!;
  }

  async deleteRegisteredModel(name: string): Promise<void> {
    await this.#k.transaction().execute(async (trx) => {
      await this.#requireModel(trx, name);
      // Children cascade, but deleting them explicitly keeps the order obvious and independent of FK settings.
      await trx.deleteFrom("promotion_comments").where("request_id", "in", trx.selectFrom("promotion_requests").select("id").where("name", "=", name)).execute();
      for (const table of ["registered_model_aliases", "model_version_tags", "model_versions", "registered_model_tags", "alias_history", "registered_model_cards", "promotion_requests", "registered_model_policies"]) {
        await trx.deleteFrom(table).where("name", "=", name).execute();
      }
      await trx.deleteFrom("registered_models").where("name", "=", name).execute();
    });
  }

  async searchRegisteredModels(q: RegistrySearchQuery): Promise<RegisteredModel[]> {
    let query = this.#k.selectFrom("registered_models as m").selectAll("m");
    if (q.projects !== undefined) query = query.where(inProjects(sql.ref("m.name"), q.projects));
    for (const t of q.filter) query = query.where(condition(t, "model"));
    for (const o of orderWithTiebreak(q.orderBy, "model")) query = query.orderBy(column(o.field, "m"), o.asc ? "asc" : "desc");
    const rows = (await query.limit(q.limit).offset(q.offset).execute()) as ModelRow[];
    return this.#hydrateModels(this.#k, rows);
  }

  // ---------- versions ----------

  async createModelVersion(input: NewModelVersion): Promise<ModelVersion> {
    const version = await this.#k.transaction().execute(async (trx) => {
      // The UPDATE takes the model's row lock: concurrent creates for one model queue here on PostgreSQL.
      const row = await trx
        .updateTable("registered_models")
        .set({ next_version: sql`next_version + 1`, last_updated_timestamp: input.time })
        .where("name", "=", input.name)
        .returning("next_version")
        .executeTakeFirst();
      if (!row) throw noModel(input.name);
      const v = Number(row.next_version) - 1;
      await trx
        .insertInto("model_versions")
        .values({
          name: input.name,
          version: v,
          creation_timestamp: input.time,
          last_updated_timestamp: input.time,
          user_id: input.userId,
          current_stage: "None",
          description: input.description,
          source: input.source,
          run_id: input.runId,
          run_link: input.runLink,
          status: input.status ?? "READY",
          status_message: input.statusMessage ?? "",
          signature: input.signature ? JSON.stringify(input.signature) : null,
          flavors: input.flavors?.length ? JSON.stringify(input.flavors) : null,
        })
        .execute();
      const tags = Object.entries(input.tags);
      if (tags.length) await trx.insertInto("model_version_tags").values(tags.map(([key, value]) => ({ name: input.name, version: v, key, value }))).execute();
      return v;
    });
    return (await this.getModelVersion(input.name, version))!;
  }

  async getModelVersion(name: string, version: number): Promise<ModelVersion | undefined> {
    const row = (await this.#k.selectFrom("model_versions").selectAll().where("name", "=", name).where("version", "=", version).executeTakeFirst()) as VersionRow | undefined;
    return row ? (await this.#hydrateVersions(this.#k, [row]))[0] : undefined;
  }

  async updateModelVersion(name: string, version: number, patch: ModelVersionPatch): Promise<ModelVersion> {
    await this.#k.transaction().execute(async (trx) => {
      await this.#requireVersion(trx, name, version);
      const set: Record<string, unknown> = { last_updated_timestamp: patch.time };
      if (patch.description !== undefined) set.description = patch.description;
      if (patch.stage !== undefined) {
        set.current_stage = patch.stage;
        if (patch.archiveExistingVersions && (patch.stage === "Staging" || patch.stage === "Production")) {
          await trx
            .updateTable("model_versions")
            .set({ current_stage: "Archived", last_updated_timestamp: patch.time })
            .where("name", "=", name)
            .where("current_stage", "=", patch.stage)
            .where("version", "!=", version)
            .execute();
        }
      }
      await trx.updateTable("model_versions").set(set).where("name", "=", name).where("version", "=", version).execute();
      await trx.updateTable("registered_models").set({ last_updated_timestamp: patch.time }).where("name", "=", name).execute();
    });
    return (await this.getModelVersion(name, version))!;
  }

  async deleteModelVersion(name: string, version: number, change: Change): Promise<void> {
    await this.#k.transaction().execute(async (trx) => {
      await this.#requireVersion(trx, name, version);
      const aliases = await trx.selectFrom("registered_model_aliases").select("alias").where("name", "=", name).where("version", "=", version).orderBy("alias").execute();
      const guarded = await protectedAliases(trx, name);
      const held = aliases.find((a) => guarded.includes(String(a.alias)));
      if (held) throw protectedAliasError(name, String(held.alias), `removed by deleting version ${version}, which it points to`);
      if (aliases.length) {
        await trx
          .insertInto("alias_history")
          .values(aliases.map((a) => ({ name, alias: a.alias, from_version: version, to_version: null, actor: change.actor, time: change.time })))
          .execute();
      }
      await trx.deleteFrom("registered_model_aliases").where("name", "=", name).where("version", "=", version).execute();
      await trx.deleteFrom("model_version_tags").where("name", "=", name).where("version", "=", version).execute();
      await trx.deleteFrom("model_versions").where("name", "=", name).where("version", "=", version).execute();
      await trx.updateTable("registered_models").set({ last_updated_timestamp: change.time }).where("name", "=", name).execute();
    });
  }

  async searchModelVersions(q: RegistrySearchQuery): Promise<ModelVersion[]> {
    let query = this.#k.selectFrom("model_versions as v").selectAll("v");
    if (q.projects !== undefined) query = query.where(inProjects(sql.ref("v.name"), q.projects));
    for (const t of q.filter) query = query.where(condition(t, "version"));
    for (const o of orderWithTiebreak(q.orderBy, "version")) query = query.orderBy(column(o.field, "v"), o.asc ? "asc" : "desc");
    const rows = (await query.limit(q.limit).offset(q.offset).execute()) as VersionRow[];
    return this.#hydrateVersions(this.#k, rows);
  }

  // ---------- tags ----------

  async setTag(target: TagTarget, key: string, value: string, time: number): Promise<void> {
    await this.#k.transaction().execute(async (trx) => {
      if (target.version === undefined) {
        await this.#requireModel(trx, target.name);
        await trx
          .insertInto("registered_model_tags")
          .values({ name: target.name, key, value })
          .onConflict((oc) => oc.columns(["name", "key"]).doUpdateSet({ value }))
          .execute();
        await trx.updateTable("registered_models").set({ last_updated_timestamp: time }).where("name", "=", target.name).execute();
      } else {
        await this.#requireVersion(trx, target.name, target.version);
        await trx
          .insertInto("model_version_tags")
          .values({ name: target.name, version: target.version, key, value })
          .onConflict((oc) => oc.columns(["name", "version", "key"]).doUpdateSet({ value }))
          .execute();
        await trx.updateTable("model_versions").set({ last_updated_timestamp: time }).where("name", "=", target.name).where("version", "=", target.version).execute();
      }
    });
  }

  async deleteTag(target: TagTarget, key: string): Promise<void> {
    await this.#k.transaction().execute(async (trx) => {
      if (target.version === undefined) {
        await this.#requireModel(trx, target.name);
        await trx.deleteFrom("registered_model_tags").where("name", "=", target.name).where("key", "=", key).execute();
      } else {
        await this.#requireVersion(trx, target.name, target.version);
        await trx.deleteFrom("model_version_tags").where("name", "=", target.name).where("version", "=", target.version).where("key", "=", key).execute();
      }
    });
  }

  // ---------- governance ----------

  async setSignature(name: string, version: number, signature: ModelSignature | null, time: number): Promise<ModelVersion> {
    await this.#k.transaction().execute(async (trx) => {
      await this.#requireVersion(trx, name, version);
      await trx
        .updateTable("model_versions")
        .set({ signature: signature ? JSON.stringify(signature) : null, last_updated_timestamp: time })
        .where("name", "=", name)
        .where("version", "=", version)
        .execute();
    });
    return (await this.getModelVersion(name, version))!;
  }

  async setRetirement(name: string, version: number, retirement: Retirement | null, time: number): Promise<ModelVersion> {
    await this.#k.transaction().execute(async (trx) => {
      await this.#requireVersion(trx, name, version);
      await trx
        .updateTable("model_versions")
        .set({
          retirement_state: retirement?.state ?? null,
          retirement_reason: retirement?.reason ?? null,
          retirement_time: retirement?.time ?? null,
          last_updated_timestamp: time,
        })
        .where("name", "=", name)
        .where("version", "=", version)
        .execute();
    });
    return (await this.getModelVersion(name, version))!;
  }

  async getCard(name: string): Promise<StoredModelCard | undefined> {
    await this.#requireModel(this.#k, name);
    const row = await this.#k.selectFrom("registered_model_cards").selectAll().where("name", "=", name).executeTakeFirst();
    return row ? { name: String(row.name), card: JSON.parse(String(row.card)) as ModelCard, lastUpdatedTimestamp: Number(row.last_updated_timestamp) } : undefined;
  }

  async setCard(name: string, card: ModelCard, time: number): Promise<StoredModelCard> {
    const text = JSON.stringify(card);
    await this.#k.transaction().execute(async (trx) => {
      await this.#requireModel(trx, name);
      await trx
        .insertInto("registered_model_cards")
        .values({ name, card: text, last_updated_timestamp: time })
        .onConflict((oc) => oc.column("name").doUpdateSet({ card: text, last_updated_timestamp: time }))
        .execute();
    });
    return { name, card: JSON.parse(text) as ModelCard, lastUpdatedTimestamp: time };
  }

  // ---------- aliases ----------

  async setAlias(name: string, alias: string, version: number, change: Change): Promise<void> {
    await this.#k.transaction().execute(async (trx) => {
      await this.#requireVersion(trx, name, version);
      // Checked in the same transaction as the write: a racing policy change lands wholly before or after it.
      if ((await protectedAliases(trx, name)).includes(alias)) throw protectedAliasError(name, alias);
      const current = await trx.selectFrom("registered_model_aliases").select("version").where("name", "=", name).where("alias", "=", alias).executeTakeFirst();
      const from = current === undefined ? null : Number(current.version);
      if (from === version) return;
      await trx
        .insertInto("registered_model_aliases")
        .values({ name, alias, version })
        .onConflict((oc) => oc.columns(["name", "alias"]).doUpdateSet({ version }))
        .execute();
      await trx.insertInto("alias_history").values({ name, alias, from_version: from, to_version: version, actor: change.actor, time: change.time }).execute();
    });
  }

  async deleteAlias(name: string, alias: string, change: Change): Promise<void> {
    await this.#k.transaction().execute(async (trx) => {
      await this.#requireModel(trx, name);
      if ((await protectedAliases(trx, name)).includes(alias)) throw protectedAliasError(name, alias, "deleted directly");
      const current = await trx.selectFrom("registered_model_aliases").select("version").where("name", "=", name).where("alias", "=", alias).executeTakeFirst();
      if (current === undefined) return;
      await trx.deleteFrom("registered_model_aliases").where("name", "=", name).where("alias", "=", alias).execute();
      await trx.insertInto("alias_history").values({ name, alias, from_version: Number(current.version), to_version: null, actor: change.actor, time: change.time }).execute();
    });
  }

  async getAliasHistory(name: string, alias: string): Promise<AliasHistoryEntry[]> {
    await this.#requireModel(this.#k, name);
    const rows = await this.#k
      .selectFrom("alias_history")
      .select(["alias", "from_version", "to_version", "actor", "time", "request_id"])
      .where("name", "=", name)
      .where("alias", "=", alias)
      .orderBy("time", "desc")
      .orderBy("id", "desc")
      .execute();
    const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
    return rows.map((r) => ({ alias: String(r.alias), fromVersion: str(r.from_version), toVersion: str(r.to_version), actor: String(r.actor), time: Number(r.time), requestId: r.request_id === null || r.request_id === undefined ? null : Number(r.request_id) }));
  }

  async close(): Promise<void> {
    // The store does not own the Database.
  }

  // ---------- helpers ----------

  async #requireModel(k: Kysely<any>, name: string): Promise<void> {
    const row = await k.selectFrom("registered_models").select("name").where("name", "=", name).executeTakeFirst();
    if (!row) throw noModel(name);
  }

  async #requireVersion(k: Kysely<any>, name: string, version: number): Promise<void> {
    const row = await k.selectFrom("model_versions").select("version").where("name", "=", name).where("version", "=", version).executeTakeFirst();
    if (row) return;
    await this.#requireModel(k, name);
    throw noVersion(name, version);
  }

  async #hydrateVersions(k: Kysely<any>, rows: VersionRow[]): Promise<ModelVersion[]> {
    if (!rows.length) return [];
    const names = [...new Set(rows.map((r) => r.name))];
    const versions = [...new Set(rows.map((r) => Number(r.version)))];
    const id = (n: string, v: unknown) => `${v}\u0000${n}`;
    const tags = new Map<string, Record<string, string>>();
    const aliases = new Map<string, string[]>();
    const tagRows = await k.selectFrom("model_version_tags").selectAll().where("name", "in", names).where("version", "in", versions).orderBy("key").execute();
    for (const t of tagRows) {
      const rec = tags.get(id(t.name, t.version)) ?? {};
      rec[t.key] = t.value;
      tags.set(id(t.name, t.version), rec);
    }
    const aliasRows = await k.selectFrom("registered_model_aliases").selectAll().where("name", "in", names).where("version", "in", versions).orderBy("alias").execute();
    for (const a of aliasRows) aliases.set(id(a.name, a.version), [...(aliases.get(id(a.name, a.version)) ?? []), a.alias]);
    return rows.map((r) => ({
      name: r.name,
      version: String(r.version),
      creationTimestamp: Number(r.creation_timestamp),
      lastUpdatedTimestamp: Number(r.last_updated_timestamp),
      userId: r.user_id,
      currentStage: r.current_stage as ModelStage,
      description: r.description,
      source: r.source,
      runId: r.run_id,
      status: r.status as ModelVersionStatus,
      statusMessage: r.status_message,
      tags: tags.get(id(r.name, r.version)) ?? {},
      runLink: r.run_link,
      aliases: aliases.get(id(r.name, r.version)) ?? [],
      signature: r.signature ? (JSON.parse(r.signature) as ModelSignature) : null,
      retirement: r.retirement_state ? { state: r.retirement_state as RetirementState, reason: r.retirement_reason ?? "", time: Number(r.retirement_time ?? 0) } : null,
      flavors: r.flavors ? (JSON.parse(r.flavors) as ModelFlavor[]) : [],
    }));
  }

  async #hydrateModels(k: Kysely<any>, rows: ModelRow[]): Promise<RegisteredModel[]> {
    if (!rows.length) return [];
    const names = rows.map((r) => r.name);
    const tags = new Map<string, Record<string, string>>();
    for (const t of await k.selectFrom("registered_model_tags").selectAll().where("name", "in", names).orderBy("key").execute()) {
      const rec = tags.get(t.name) ?? {};
      rec[t.key] = t.value;
      tags.set(t.name, rec);
    }
    const aliases = new Map<string, { alias: string; version: string }[]>();
    for (const a of await k.selectFrom("registered_model_aliases").selectAll().where("name", "in", names).orderBy("alias").execute()) {
      aliases.set(a.name, [...(aliases.get(a.name) ?? []), { alias: a.alias, version: String(a.version) }]);
    }
    const latestRows = (await k
      .selectFrom("model_versions as v")
      .selectAll("v")
      .where("v.name", "in", names)
      .where(({ eb, selectFrom }) =>
        eb("v.version", "=", selectFrom("model_versions as w").select((e) => e.fn.max("w.version").as("m")).whereRef("w.name", "=", "v.name").whereRef("w.current_stage", "=", "v.current_stage")),
      )
      .orderBy("v.version", "asc")
      .execute()) as VersionRow[];
    const latest = new Map<string, ModelVersion[]>();
    for (const v of await this.#hydrateVersions(k, latestRows)) latest.set(v.name, [...(latest.get(v.name) ?? []), v]);
    return rows.map((r) => ({
      name: r.name,
      creationTimestamp: Number(r.creation_timestamp),
      lastUpdatedTimestamp: Number(r.last_updated_timestamp),
      userId: r.user_id,
      description: r.description,
      latestVersions: latest.get(r.name) ?? [],
      tags: tags.get(r.name) ?? {},
      aliases: aliases.get(r.name) ?? [],
    }));
  }
}

const COLUMNS: Record<string, string> = { name: "name", run_id: "run_id", source_path: "source", version_number: "version", last_updated_timestamp: "last_updated_timestamp", creation_timestamp: "creation_timestamp" };

function column(field: string, alias: string) {
  return sql.ref(`${alias}.${COLUMNS[field]!}`);
}

function compare(lhs: Expression<unknown>, op: string, value: unknown): Expression<SqlBool> {
  if (op === "ILIKE") return sql<SqlBool>`lower(${lhs}) like lower(${value})`;
  return sql<SqlBool>`${lhs} ${sql.raw(op === "LIKE" ? "like" : op)} ${value}`;
}

function condition(t: RegistryFilterTerm, kind: "model" | "version"): Expression<SqlBool> {
  const a = kind === "model" ? "m" : "v";
  if (t.field !== "tag") return compare(column(t.field, a), t.op, t.value);
  if (kind === "model") {
    return sql<SqlBool>`exists (select 1 from registered_model_tags t where t.name = m.name and t.key = ${t.key} and ${compare(sql.ref("t.value"), t.op, t.value)})`;
  }
  return sql<SqlBool>`exists (select 1 from model_version_tags t where t.name = v.name and t.version = v.version and t.key = ${t.key} and ${compare(sql.ref("t.value"), t.op, t.value)})`;
}

function orderWithTiebreak(keys: RegistryOrderKey[], kind: "model" | "version"): RegistryOrderKey[] {
  const out = [...keys];
  if (!out.some((k) => k.field === "name")) out.push({ field: "name", asc: true });
  if (kind === "version" && !out.some((k) => k.field === "version_number")) out.push({ field: "version_number", asc: false });
  return out;
}

/**
 * Migrates the registry tables and returns the store. The store does not own the Database:
 * close the database yourself after `store.close()`.
 * Throws the migration's error when the schema cannot be brought up to date.
 * @example const registry = await createRegistryStore(await openDatabase("sqlite::memory:"));
 */
export async function createRegistryStore(db: Database): Promise<RegistryStore> {
  await migrate(db, registryMigrations);
  return new SqlRegistryStore(db);
}
