import { CairnError, type DeploymentAction, type DeploymentHistoryEntry, type DeploymentRevisionState, type DeploymentSpec } from "@cairn/contract";
import type { Kysely, Transaction } from "kysely";
import { isUniqueViolation, migrate, type Database } from "../../../platform/db/database.js";
import { deploymentsMigrations } from "./migrations.js";

/** A deployment as stored: its current state and revision. */
export interface DeploymentRow {
  name: string;
  description: string;
  spec: DeploymentSpec;
  versions: DeploymentRevisionState["versions"];
  /** Per arm that follows an alias: the version the alias pointed to when last looked at. */
  aliasSeen: Partial<Record<"primary" | "canary" | "shadow", string>>;
  revision: number;
  /** The revision this deployment was created at (a name deleted and created again continues its numbering). */
  firstRevision: number;
  createdAt: number;
  updatedAt: number;
  createdBy: string;
}

/** What a change records in the history besides the states. */
export interface ChangeNote {
  time: number;
  actor: string;
  action: DeploymentAction;
  message: string;
}

/**
 * Deployments' storage. Every change writes the new row and its history entry in one transaction,
 * and is a compare-and-set on the revision it read: a stale change returns false and writes nothing.
 */
export interface DeploymentStore {
  /** Creates a deployment at the revision after its name's last history entry. @throws CairnError RESOURCE_ALREADY_EXISTS */
  create(row: Omit<DeploymentRow, "revision" | "firstRevision">, note: ChangeNote): Promise<DeploymentRow>;
  get(name: string): Promise<DeploymentRow | undefined>;
  list(model?: string): Promise<DeploymentRow[]>;
  /** Replaces the state when the stored revision is still `expectedRevision`; the new revision is one more. */
  update(name: string, expectedRevision: number, next: Pick<DeploymentRow, "description" | "spec" | "versions" | "aliasSeen">, note: ChangeNote): Promise<DeploymentRow | undefined>;
  /** Deletes the deployment when its revision is still `expectedRevision`, keeping its history (with a `delete` entry). */
  delete(name: string, expectedRevision: number, note: ChangeNote): Promise<boolean>;
  /** History entries, newest first, below `before` and from `from` when given. */
  history(name: string, opts: { limit: number; before?: number; from?: number }): Promise<DeploymentHistoryEntry[]>;
  historyEntry(name: string, revision: number): Promise<DeploymentHistoryEntry | undefined>;
}

const json = (v: unknown) => JSON.stringify(v);

/** Deployments over SQLite or PostgreSQL. */
export class SqlDeploymentStore implements DeploymentStore {
  readonly #k: Kysely<any>;

  constructor(k: Kysely<any>) {
    this.#k = k;
  }

  async create(row: Omit<DeploymentRow, "revision" | "firstRevision">, note: ChangeNote): Promise<DeploymentRow> {
    try {
      return await this.#k.transaction().execute(async (trx) => {
        const last = await trx.selectFrom("dep_history").select((eb) => eb.fn.max("revision").as("r")).where("name", "=", row.name).executeTakeFirst();
        const revision = Number(last?.r ?? 0) + 1;
        const full = { ...row, revision, firstRevision: revision };
        await trx.insertInto("dep_deployments").values(toDb(full)).execute();
        await insertHistory(trx, row.name, revision, note, null, { spec: row.spec, versions: row.versions });
        return full;
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new CairnError("RESOURCE_ALREADY_EXISTS", `Deployment '${row.name}' already exists`);
      throw e;
    }
  }

  async get(name: string): Promise<DeploymentRow | undefined> {
    const r = await this.#k.selectFrom("dep_deployments").selectAll().where("name", "=", name).executeTakeFirst();
    return r ? fromDb(r) : undefined;
  }

  async list(model?: string): Promise<DeploymentRow[]> {
    let q = this.#k.selectFrom("dep_deployments").selectAll();
    if (model !== undefined) q = q.where("model", "=", model);
    return (await q.orderBy("name").execute()).map(fromDb);
  }

  async update(name: string, expectedRevision: number, next: Pick<DeploymentRow, "description" | "spec" | "versions" | "aliasSeen">, note: ChangeNote): Promise<DeploymentRow | undefined> {
    return this.#k.transaction().execute(async (trx) => {
      const cur = await trx.selectFrom("dep_deployments").selectAll().where("name", "=", name).executeTakeFirst();
      if (!cur || Number(cur.revision) !== expectedRevision) return undefined;
      const revision = expectedRevision + 1;
      const r = await trx
        .updateTable("dep_deployments")
        .set({ description: next.description, spec: json(next.spec), versions: json(next.versions), alias_seen: json(next.aliasSeen), model: next.spec.model, revision, updated_at: note.time })
        .where("name", "=", name)
        .where("revision", "=", expectedRevision)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return undefined;
      const before = fromDb(cur);
      await insertHistory(trx, name, revision, note, { spec: before.spec, versions: before.versions }, { spec: next.spec, versions: next.versions });
      return { ...before, ...next, revision, updatedAt: note.time };
    });
  }

  async delete(name: string, expectedRevision: number, note: ChangeNote): Promise<boolean> {
    return this.#k.transaction().execute(async (trx) => {
      const cur = await trx.selectFrom("dep_deployments").selectAll().where("name", "=", name).executeTakeFirst();
      if (!cur || Number(cur.revision) !== expectedRevision) return false;
      const r = await trx.deleteFrom("dep_deployments").where("name", "=", name).where("revision", "=", expectedRevision).executeTakeFirst();
      if (Number(r.numDeletedRows) !== 1) return false;
      const before = fromDb(cur);
      const state = { spec: before.spec, versions: before.versions };
      await insertHistory(trx, name, expectedRevision + 1, note, state, state);
      return true;
    });
  }

  async history(name: string, opts: { limit: number; before?: number; from?: number }): Promise<DeploymentHistoryEntry[]> {
    let q = this.#k.selectFrom("dep_history").selectAll().where("name", "=", name);
    if (opts.before !== undefined) q = q.where("revision", "<", opts.before);
    if (opts.from !== undefined) q = q.where("revision", ">=", opts.from);
    return (await q.orderBy("revision", "desc").limit(opts.limit).execute()).map(historyFromDb);
  }

  async historyEntry(name: string, revision: number): Promise<DeploymentHistoryEntry | undefined> {
    const r = await this.#k.selectFrom("dep_history").selectAll().where("name", "=", name).where("revision", "=", revision).executeTakeFirst();
    return r ? historyFromDb(r) : undefined;
  }
}

async function insertHistory(trx: Transaction<any>, name: string, revision: number, note: ChangeNote, from: DeploymentRevisionState | null, to: DeploymentRevisionState): Promise<void> {
  await trx
    .insertInto("dep_history")
    .values({ name, revision, time: note.time, actor: note.actor, action: note.action, message: note.message, from_state: from === null ? null : json(from), to_state: json(to) })
    .execute();
}

function toDb(r: DeploymentRow) {
  return { name: r.name, model: r.spec.model, description: r.description, spec: json(r.spec), versions: json(r.versions), alias_seen: json(r.aliasSeen), revision: r.revision, first_revision: r.firstRevision, created_at: r.createdAt, updated_at: r.updatedAt, created_by: r.createdBy };
}

function fromDb(r: Record<string, unknown>): DeploymentRow {
  return {
    name: String(r.name),
    description: String(r.description),
    spec: JSON.parse(String(r.spec)) as DeploymentSpec,
    versions: JSON.parse(String(r.versions)) as DeploymentRow["versions"],
    aliasSeen: JSON.parse(String(r.alias_seen)) as DeploymentRow["aliasSeen"],
    revision: Number(r.revision),
    firstRevision: Number(r.first_revision),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    createdBy: String(r.created_by),
  };
}

function historyFromDb(r: Record<string, unknown>): DeploymentHistoryEntry {
  return {
    revision: Number(r.revision),
    time: Number(r.time),
    actor: String(r.actor),
    action: String(r.action) as DeploymentAction,
    message: String(r.message),
    from: r.from_state === null || r.from_state === undefined ? null : (JSON.parse(String(r.from_state)) as DeploymentRevisionState),
    to: JSON.parse(String(r.to_state)) as DeploymentRevisionState,
  };
}

/** Opens the deployment store on a database, applying its migrations. */
export async function createDeploymentStore(db: Database): Promise<SqlDeploymentStore> {
  await migrate(db, deploymentsMigrations);
  return new SqlDeploymentStore(db.kysely);
}
