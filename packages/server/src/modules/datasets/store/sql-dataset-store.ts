import { CairnError, DEFAULT_PROJECT, PROJECT_TAG, type Dataset, type DatasetVersion, type Expectation, type FileProfile, type ManifestEntry, type TabularFormat, type ValidationReport } from "@cairn/contract";
import { sql, type Kysely, type Transaction } from "kysely";
import type BetterSqlite3 from "better-sqlite3";
import { isUniqueViolation, migrate, type Database } from "../../../platform/db/database.js";
import { datasetMigrations } from "./migrations.js";
import { profileKey, type DatasetStore, type NewDataset, type NewVersion, type RunLink, type VersionBase } from "./dataset-store.js";

interface DatasetRow {
  name: string;
  description: string;
  created_at: number;
  updated_at: number;
  next_version: number;
  expectations: string;
}
interface VersionRow {
  id: string;
  name: string;
  number: number;
  digest: string;
  message: string;
  author: string;
  created_at: number;
  file_count: number;
  total_bytes: number;
  external_count: number;
  validation: string;
  source_run_id: string | null;
}
interface FileRow {
  path: string;
  size: number;
  mode: number;
  sha256: string | null;
  uri: string | null;
  etag: string | null;
}

const noDataset = (name: string) => new CairnError("RESOURCE_DOES_NOT_EXIST", `Dataset '${name}' not found`);
const datasetExists = (name: string) => new CairnError("RESOURCE_ALREADY_EXISTS", `Dataset '${name}' already exists`);
// Rows per INSERT (PostgreSQL): 7 parameters a file keep a chunk under its 65,535-parameter limit.
const FILE_CHUNK = 5000;
const IN_CHUNK = 900;

function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

function fileOf(r: FileRow): ManifestEntry {
  const e: ManifestEntry = { path: r.path, size: Number(r.size), mode: Number(r.mode) };
  if (r.sha256 !== null) e.sha256 = r.sha256;
  if (r.uri !== null) e.uri = r.uri;
  if (r.etag !== null) e.etag = r.etag;
  return e;
}

/** `LIKE` pattern text with `%`, `_` and the escape character itself escaped (escape `\`). */
function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * The dataset store over Kysely, for SQLite and PostgreSQL alike. Every write runs in one
 * transaction; a version's number comes from `ds_datasets.next_version`, incremented in the version's
 * own transaction, so concurrent creates of one dataset land as consecutive versions.
 */
export class SqlDatasetStore implements DatasetStore {
  readonly backend: "sqlite" | "postgres";
  readonly #k: Kysely<any>;
  readonly #sqlite: BetterSqlite3.Database | undefined;
  #insertFileStmt: BetterSqlite3.Statement | undefined;

  constructor(db: Database) {
    this.backend = db.kind;
    this.#k = db.kysely;
    this.#sqlite = db.sqlite;
  }

  async createDataset(d: NewDataset): Promise<Dataset> {
    try {
      await this.#k.transaction().execute(async (trx) => {
        const exists = await trx.selectFrom("ds_datasets").select("name").where("name", "=", d.name).executeTakeFirst();
        if (exists) throw datasetExists(d.name);
        await trx.insertInto("ds_datasets").values({ name: d.name, description: d.description, created_at: d.time, updated_at: d.time, next_version: 1, expectations: JSON.stringify(d.expectations) }).execute();
        const tags = Object.entries(d.tags);
        if (tags.length) await trx.insertInto("ds_labels").values(tags.map(([key, value]) => ({ name: d.name, key, value }))).execute();
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw datasetExists(d.name);
      throw e;
    }
    return (await this.getDataset(d.name))!;
  }

  async getDataset(name: string): Promise<Dataset | undefined> {
    const row = (await this.#k.selectFrom("ds_datasets").selectAll().where("name", "=", name).executeTakeFirst()) as DatasetRow | undefined;
    return row ? (await this.#hydrateDatasets([row]))[0] : undefined;
  }

  async searchDatasets(q: { q?: string; projects?: readonly string[]; after?: string; limit: number }): Promise<Dataset[]> {
    if (q.projects && q.projects.length === 0) return [];
    let query = this.#k.selectFrom("ds_datasets as d").selectAll();
    if (q.after !== undefined) query = query.where("d.name", ">", q.after);
    if (q.q) query = query.where(sql<boolean>`lower(d.name) like ${`%${likeEscape(q.q.toLowerCase())}%`} escape '\\'`);
    if (q.projects) {
      const list = sql.join(q.projects.map((p) => sql`${p}`));
      query = query.where(sql<boolean>`coalesce((select l.value from ds_labels l where l.name = d.name and l.key = ${PROJECT_TAG}), ${DEFAULT_PROJECT}) in (${list})`);
    }
    const rows = (await query.orderBy("d.name").limit(q.limit).execute()) as DatasetRow[];
    return this.#hydrateDatasets(rows);
  }

  async updateDataset(name: string, patch: { description?: string; expectations?: Expectation[]; time: number }): Promise<Dataset> {
    const set: Record<string, unknown> = { updated_at: patch.time };
    if (patch.description !== undefined) set.description = patch.description;
    if (patch.expectations !== undefined) set.expectations = JSON.stringify(patch.expectations);
    const res = await this.#k.updateTable("ds_datasets").set(set).where("name", "=", name).executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) throw noDataset(name);
    return (await this.getDataset(name))!;
  }

  async deleteDataset(name: string): Promise<void> {
    const res = await this.#k.deleteFrom("ds_datasets").where("name", "=", name).executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) throw noDataset(name);
  }

  async createVersion(v: NewVersion, files: readonly ManifestEntry[], base?: VersionBase): Promise<{ version: DatasetVersion; created: boolean }> {
    const existing = await this.getVersionById(v.id);
    if (existing) return this.#sameDataset(existing, v);
    let totalBytes = 0;
    let external = 0;
    for (const f of files) {
      totalBytes += f.size;
      if (f.uri !== undefined) external++;
    }
    // Files carried over from a base version keep blobs that version references; only new ones need checking.
    const stored = [...new Set((base ? base.upsert : files).filter((f) => f.uri === undefined).map((f) => f.sha256!))];
    try {
      await this.#k.transaction().execute(async (trx) => {
        // Taking the counter first locks the dataset row (PostgreSQL), so racing creates queue here.
        const counter = (await trx.updateTable("ds_datasets").set({ next_version: sql`next_version + 1`, updated_at: v.createdAt }).where("name", "=", v.name).returning("next_version").executeTakeFirst()) as { next_version: number } | undefined;
        if (!counter) throw noDataset(v.name);
        const number = Number(counter.next_version) - 1;
        if (v.expectedLatest !== undefined && v.expectedLatest !== number - 1) {
          throw new CairnError("RESOURCE_CONFLICT", `Dataset '${v.name}' is at version ${number - 1}, not ${v.expectedLatest}: another version landed first`);
        }
        for (const part of chunks(stored, IN_CHUNK)) {
          // Touching (not just reading) the rows makes a concurrent gc's DELETE, which waits on them, recheck
          // `touched_at` and leave them: under READ COMMITTED a row locked but unchanged would not be rechecked.
          const have = await this.#touchClaimed(trx, part, v.project, Date.now());
          if (have.length !== part.length) {
            const known = new Set(have);
            const lacking = part.filter((h) => !known.has(h));
            const path = files.find((f) => f.sha256 === lacking[0] && f.uri === undefined)?.path;
            throw new CairnError("INVALID_STATE", `${lacking.length} file(s) have no uploaded content, e.g. '${path}' (sha256 ${lacking[0]}); upload the blobs first`);
          }
        }
        await trx
          .insertInto("ds_versions")
          .values({
            id: v.id,
            name: v.name,
            number,
            digest: v.digest,
            message: v.message,
            author: v.author,
            created_at: v.createdAt,
            file_count: files.length,
            total_bytes: totalBytes,
            external_count: external,
            validation: JSON.stringify(v.validation),
            source_run_id: v.sourceRunId ?? null,
          })
          .execute();
        if (base) {
          const keep = sql.join(base.changed.length ? base.changed.map((p) => sql`${p}`) : [sql`''`]);
          await sql`insert into ds_files (version_id, path, size, mode, sha256, uri, etag)
            select ${v.id}, path, size, mode, sha256, uri, etag from ds_files where version_id = ${base.versionId} and path not in (${keep})`.execute(trx);
          await this.#insertFiles(trx, v.id, base.upsert);
          const n = (await trx.selectFrom("ds_files").select(sql<number>`count(*)`.as("n")).where("version_id", "=", v.id).executeTakeFirst()) as { n: number };
          if (Number(n.n) !== files.length) throw new CairnError("INVALID_STATE", `The base version changed while this version was being created; try again`);
        } else {
          await this.#insertFiles(trx, v.id, files);
        }
        for (const tag of v.tags) await this.#setTag(trx, v.name, tag, v.id);
        if (v.sourceRunId) await this.#link(trx, { runId: v.sourceRunId, versionId: v.id, direction: "output" }, v.createdAt);
      });
    } catch (e) {
      // The same id racing in from two pushes: the loser answers with the winner's version.
      if (isUniqueViolation(e)) {
        const won = await this.getVersionById(v.id);
        if (won) return this.#sameDataset(won, v);
      }
      throw e;
    }
    return { version: (await this.getVersionById(v.id))!, created: true };
  }

  async #insertFiles(trx: Transaction<any>, versionId: string, files: readonly ManifestEntry[]): Promise<void> {
    if (this.#sqlite) {
      // A prepared statement per row inside the open transaction (one connection) is several times
      // faster than building multi-row INSERTs for 100k-file manifests.
      const stmt = (this.#insertFileStmt ??= this.#sqlite.prepare("insert into ds_files (version_id, path, size, mode, sha256, uri, etag) values (?, ?, ?, ?, ?, ?, ?)"));
      for (const f of files) stmt.run(versionId, f.path, f.size, f.mode, f.sha256 ?? null, f.uri ?? null, f.etag ?? null);
      return;
    }
    for (const part of chunks(files, FILE_CHUNK)) {
      await trx
        .insertInto("ds_files")
        .values(part.map((f) => ({ version_id: versionId, path: f.path, size: f.size, mode: f.mode, sha256: f.sha256 ?? null, uri: f.uri ?? null, etag: f.etag ?? null })))
        .execute();
    }
  }

  #sameDataset(existing: DatasetVersion, v: NewVersion): { version: DatasetVersion; created: boolean } {
    if (existing.dataset !== v.name || existing.digest !== v.digest) {
      throw new CairnError("RESOURCE_ALREADY_EXISTS", `Version id ${v.id} already exists with other content`);
    }
    return { version: existing, created: false };
  }

  async resolveVersion(name: string, ref: string): Promise<DatasetVersion | undefined> {
    const base = () => this.#k.selectFrom("ds_versions").selectAll().where("name", "=", name);
    let row: VersionRow | undefined;
    const num = /^v?(\d{1,15})$/i.exec(ref);
    if (num) row = (await base().where("number", "=", Number(num[1])).executeTakeFirst()) as VersionRow | undefined;
    else if (ref.toLowerCase() === "latest") row = (await base().orderBy("number", "desc").limit(1).executeTakeFirst()) as VersionRow | undefined;
    else {
      const tagged = await this.#k.selectFrom("ds_version_tags").select("version_id").where("name", "=", name).where("tag", "=", ref).executeTakeFirst();
      if (tagged) row = (await base().where("id", "=", tagged.version_id as string).executeTakeFirst()) as VersionRow | undefined;
      else if (/^[0-9a-f-]{36}$/.test(ref)) row = (await base().where("id", "=", ref).executeTakeFirst()) as VersionRow | undefined;
      if (!row && /^[0-9a-f]{8,64}$/.test(ref)) {
        const hits = (await base().where("digest", "like", `${ref}%`).orderBy("number", "desc").limit(2).execute()) as VersionRow[];
        const digests = new Set(hits.map((h) => h.digest));
        if (digests.size > 1) throw new CairnError("INVALID_PARAMETER_VALUE", `Digest prefix '${ref}' matches several versions of '${name}'; give more characters`);
        row = hits[0];
      }
    }
    return row ? (await this.#hydrateVersions([row]))[0] : undefined;
  }

  async getVersionById(id: string): Promise<DatasetVersion | undefined> {
    const row = (await this.#k.selectFrom("ds_versions").selectAll().where("id", "=", id).executeTakeFirst()) as VersionRow | undefined;
    return row ? (await this.#hydrateVersions([row]))[0] : undefined;
  }

  async listVersions(name: string, q: { before?: number; limit: number }): Promise<DatasetVersion[]> {
    let query = this.#k.selectFrom("ds_versions").selectAll().where("name", "=", name);
    if (q.before !== undefined) query = query.where("number", "<", q.before);
    return this.#hydrateVersions((await query.orderBy("number", "desc").limit(q.limit).execute()) as VersionRow[]);
  }

  async listFiles(versionId: string, q: { prefix?: string; after?: string; limit: number }): Promise<ManifestEntry[]> {
    let query = this.#k.selectFrom("ds_files").select(["path", "size", "mode", "sha256", "uri", "etag"]).where("version_id", "=", versionId);
    // An explicit escape clause, so `_` and `%` in a directory name match literally.
    if (q.prefix) query = query.where(sql<boolean>`path like ${`${likeEscape(q.prefix)}/%`} escape '\\'`);
    if (q.after !== undefined) query = query.where("path", ">", q.after);
    const rows = (await query.orderBy("path").limit(q.limit).execute()) as FileRow[];
    return rows.map(fileOf);
  }

  async getFile(versionId: string, path: string): Promise<ManifestEntry | undefined> {
    const row = (await this.#k.selectFrom("ds_files").select(["path", "size", "mode", "sha256", "uri", "etag"]).where("version_id", "=", versionId).where("path", "=", path).executeTakeFirst()) as FileRow | undefined;
    return row ? fileOf(row) : undefined;
  }

  async setVersionTag(name: string, tag: string, versionId: string): Promise<void> {
    await this.#k.transaction().execute((trx) => this.#setTag(trx, name, tag, versionId));
  }

  async #setTag(trx: Transaction<any>, name: string, tag: string, versionId: string): Promise<void> {
    await trx
      .insertInto("ds_version_tags")
      .values({ name, tag, version_id: versionId })
      .onConflict((oc) => oc.columns(["name", "tag"]).doUpdateSet({ version_id: versionId }))
      .execute();
  }

  async deleteVersionTag(name: string, tag: string): Promise<void> {
    const res = await this.#k.deleteFrom("ds_version_tags").where("name", "=", name).where("tag", "=", tag).executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Dataset '${name}' has no tag '${tag}'`);
  }

  async missingBlobs(hashes: readonly string[], project: string, time: number): Promise<string[]> {
    const unique = [...new Set(hashes)];
    const known = new Set<string>();
    await this.#k.transaction().execute(async (trx) => {
      for (const part of chunks(unique, IN_CHUNK)) {
        for (const h of await this.#touchClaimed(trx, part, project, time)) known.add(h);
      }
    });
    return unique.filter((h) => !known.has(h));
  }

  /** Touches the blobs of `hashes` that `project` claims, returning those. */
  async #touchClaimed(k: Kysely<any>, hashes: readonly string[], project: string, time: number): Promise<string[]> {
    const rows = await k
      .updateTable("ds_blobs")
      .set({ touched_at: time })
      .where("sha256", "in", hashes)
      .where(sql<boolean>`exists (select 1 from ds_blob_claims c where c.sha256 = ds_blobs.sha256 and c.project = ${project})`)
      .returning("sha256")
      .execute();
    return rows.map((r) => r.sha256 as string);
  }

  async recordBlob(sha256: string, size: number, project: string, time: number): Promise<void> {
    await this.recordBlobs([{ sha256, size }], project, time);
  }

  async recordedBlobs(hashes: readonly string[]): Promise<Set<string>> {
    const known = new Set<string>();
    for (const part of chunks([...new Set(hashes)], IN_CHUNK)) {
      const rows = await this.#k.selectFrom("ds_blobs").select("sha256").where("sha256", "in", part).execute();
      for (const r of rows) known.add(r.sha256 as string);
    }
    return known;
  }

  async recordBlobs(blobs: readonly { sha256: string; size: number }[], project: string, time: number): Promise<void> {
    const unique = [...new Map(blobs.map((b) => [b.sha256, b])).values()];
    if (unique.length === 0) return;
    await this.#k.transaction().execute(async (trx) => {
      // Four parameters a row: SQLite allows 32766 bound parameters, PostgreSQL 65535.
      for (const part of chunks(unique, 2000)) {
        await trx
          .insertInto("ds_blobs")
          .values(part.map((b) => ({ sha256: b.sha256, size: b.size, created_at: time, touched_at: time })))
          .onConflict((oc) => oc.column("sha256").doUpdateSet({ touched_at: time }))
          .execute();
        await trx
          .insertInto("ds_blob_claims")
          .values(part.map((b) => ({ sha256: b.sha256, project })))
          .onConflict((oc) => oc.columns(["sha256", "project"]).doNothing())
          .execute();
      }
    });
  }

  async gcCandidates(before: number): Promise<{ candidates: { sha256: string; size: number }[]; referenced: number; inGrace: number }> {
    // One scan of the files answers "referenced?" for every blob (SQLite and PostgreSQL hash the subquery).
    const referenced = sql<boolean>`b.sha256 in (select f.sha256 from ds_files f where f.sha256 is not null)`;
    const rows = (await this.#k
      .selectFrom("ds_blobs as b")
      .select(["b.sha256", "b.size", "b.touched_at", sql<number>`case when ${referenced} then 1 else 0 end`.as("ref")])
      .orderBy("b.sha256")
      .execute()) as { sha256: string; size: number; touched_at: number; ref: number }[];
    const candidates: { sha256: string; size: number }[] = [];
    let referencedCount = 0;
    let inGrace = 0;
    for (const r of rows) {
      if (Number(r.ref) === 1) referencedCount++;
      else if (Number(r.touched_at) >= before) inGrace++;
      else candidates.push({ sha256: r.sha256, size: Number(r.size) });
    }
    return { candidates, referenced: referencedCount, inGrace };
  }

  async forgetBlobs(hashes: readonly string[], before: number): Promise<string[]> {
    const gone: string[] = [];
    await this.#k.transaction().execute(async (trx) => {
      for (const part of chunks(hashes, IN_CHUNK)) {
        // Both conditions are checked again inside the DELETE: a version or a "missing?" check may have claimed the blob since the listing.
        const rows = await trx
          .deleteFrom("ds_blobs")
          .where("sha256", "in", part)
          .where("touched_at", "<", before)
          .where(sql<boolean>`sha256 not in (select f.sha256 from ds_files f where f.sha256 is not null)`)
          .returning("sha256")
          .execute();
        for (const r of rows) gone.push(r.sha256 as string);
      }
    });
    return gone;
  }

  async getProfiles(keys: readonly { sha256: string; format: TabularFormat }[]): Promise<Map<string, FileProfile>> {
    const out = new Map<string, FileProfile>();
    for (const part of chunks([...new Set(keys.map((k) => k.sha256))], IN_CHUNK)) {
      const rows = (await this.#k.selectFrom("ds_profiles").select(["sha256", "format", "profile"]).where("sha256", "in", part).execute()) as { sha256: string; format: TabularFormat; profile: string }[];
      for (const r of rows) out.set(profileKey(r.sha256, r.format), JSON.parse(r.profile) as FileProfile);
    }
    return out;
  }

  async putProfile(sha256: string, format: TabularFormat, profile: FileProfile): Promise<void> {
    await this.#k
      .insertInto("ds_profiles")
      .values({ sha256, format, profile: JSON.stringify(profile) })
      .onConflict((oc) => oc.columns(["sha256", "format"]).doNothing())
      .execute();
  }

  async linkRun(link: RunLink, time: number): Promise<void> {
    await this.#link(this.#k, link, time);
  }

  async #link(k: Kysely<any>, link: RunLink, time: number): Promise<void> {
    await k
      .insertInto("ds_run_links")
      .values({ run_id: link.runId, version_id: link.versionId, direction: link.direction, context: link.context ?? null, created_at: time })
      .onConflict((oc) => oc.columns(["run_id", "version_id", "direction"]).doNothing())
      .execute();
  }

  async runLinks(q: { versionIds?: readonly string[]; runIds?: readonly string[] }): Promise<RunLink[]> {
    const out: RunLink[] = [];
    const read = async (column: "version_id" | "run_id", ids: readonly string[]) => {
      for (const part of chunks([...new Set(ids)], IN_CHUNK)) {
        const rows = (await this.#k.selectFrom("ds_run_links").select(["run_id", "version_id", "direction", "context"]).where(column, "in", part).orderBy("created_at").execute()) as { run_id: string; version_id: string; direction: "input" | "output"; context: string | null }[];
        for (const r of rows) out.push({ runId: r.run_id, versionId: r.version_id, direction: r.direction, ...(r.context !== null ? { context: r.context } : {}) });
      }
    };
    if (q.versionIds?.length) await read("version_id", q.versionIds);
    if (q.runIds?.length) await read("run_id", q.runIds);
    return out;
  }

  async close(): Promise<void> {}

  async #hydrateDatasets(rows: DatasetRow[]): Promise<Dataset[]> {
    if (rows.length === 0) return [];
    const names = rows.map((r) => r.name);
    const labels = (await this.#k.selectFrom("ds_labels").select(["name", "key", "value"]).where("name", "in", names).execute()) as { name: string; key: string; value: string }[];
    const counts = (await this.#k.selectFrom("ds_versions").select(["name", sql<number>`count(*)`.as("n"), sql<number>`max(number)`.as("latest")]).where("name", "in", names).groupBy("name").execute()) as { name: string; n: number; latest: number }[];
    const byName = new Map(counts.map((c) => [c.name, c]));
    return rows.map((r) => {
      const tags: Record<string, string> = {};
      for (const l of labels) if (l.name === r.name) tags[l.key] = l.value;
      const c = byName.get(r.name);
      return {
        name: r.name,
        description: r.description,
        tags,
        createdAt: Number(r.created_at),
        updatedAt: Number(r.updated_at),
        latestVersion: c ? Number(c.latest) : 0,
        versionCount: c ? Number(c.n) : 0,
        expectations: JSON.parse(r.expectations) as Expectation[],
      };
    });
  }

  async #hydrateVersions(rows: VersionRow[]): Promise<DatasetVersion[]> {
    if (rows.length === 0) return [];
    const tags = (await this.#k.selectFrom("ds_version_tags").select(["tag", "version_id"]).where("version_id", "in", rows.map((r) => r.id)).orderBy("tag").execute()) as { tag: string; version_id: string }[];
    return rows.map((r) => {
      const v: DatasetVersion = {
        id: r.id,
        dataset: r.name,
        number: Number(r.number),
        digest: r.digest,
        message: r.message,
        author: r.author,
        createdAt: Number(r.created_at),
        fileCount: Number(r.file_count),
        totalBytes: Number(r.total_bytes),
        externalCount: Number(r.external_count),
        tags: tags.filter((t) => t.version_id === r.id).map((t) => t.tag),
        validation: JSON.parse(r.validation) as ValidationReport,
      };
      if (r.source_run_id !== null) v.sourceRunId = r.source_run_id;
      return v;
    });
  }
}

/**
 * Opens the dataset store on a database, applying its migrations first.
 * @throws the migration's error when the schema cannot be brought up to date
 */
export async function createDatasetStore(db: Database): Promise<SqlDatasetStore> {
  await migrate(db, datasetMigrations);
  return new SqlDatasetStore(db);
}
