import { createHash } from "node:crypto";
import { sql } from "kysely";
import type { Kysely, RawBuilder } from "kysely";
import { CairnError } from "@cairn/contract";
import type { DatasetInput, DownsampledSeries, Experiment, Metric, Run, RunInfo, RunStatus, LifecycleStage } from "@cairn/contract";
import type { Database } from "../../../platform/db/database.js";
import type {
  DownsampleOptions,
  ExperimentPatch,
  LogBatchInput,
  NewExperiment,
  NewRun,
  RunPatch,
  SearchExperimentsQuery,
  SearchRunsQuery,
  TrackingStore,
} from "./tracking-store.js";
import {
  RUN_NAME_TAG,
  experimentNameTaken,
  experimentNotActive,
  experimentNotFound,
  isUniqueViolation,
  paramConflict,
  prepareBatch,
  runNotActive,
  runNotFound,
} from "./batch.js";
import type { PreparedBatch } from "./batch.js";
import { BucketAccumulator, ROLLUP_THRESHOLD, ROLLUP_WIDTHS, aggregateRollups, needsRangeCount, planDownsample } from "./rollups.js";
import type { RollupRow, StoredPoint } from "./rollups.js";
import { generateRunName } from "./run-names.js";
import { buildExperimentSearchSql, buildRunSearch } from "./search-sql.js";
import type { ExperimentRow, RunRow, RunSearch } from "./search-sql.js";

// The store's tables are described by its migrations; rows are mapped by hand below.
type Db = Kysely<any>;

/** Rows per IN (...) list, well under SQLite's and PostgreSQL's bound-parameter limits. */
const IN_CHUNK = 500;
/** Rows per multi-row INSERT (4 to 10 columns each). */
const INSERT_CHUNK = 1000;

/** The `runs` columns that make a RunInfo. */
export const RUN_COLUMNS = ["run_id", "experiment_id", "name", "user_id", "status", "start_time", "end_time", "artifact_uri", "lifecycle_stage"] as const;

/** Maps a `runs` row to the API's RunInfo. */
export function toRunInfo(row: RunRow): RunInfo {
  return {
    runId: row.run_id,
    runName: row.name,
    experimentId: String(row.experiment_id),
    userId: row.user_id,
    status: row.status as RunStatus,
    startTime: Number(row.start_time),
    endTime: row.end_time === null || row.end_time === undefined ? null : Number(row.end_time),
    artifactUri: row.artifact_uri,
    lifecycleStage: row.lifecycle_stage as LifecycleStage,
  };
}

function toExperiment(row: ExperimentRow, tags: Record<string, string>): Experiment {
  return {
    experimentId: String(row.experiment_id),
    name: row.name,
    artifactLocation: row.artifact_location,
    lifecycleStage: row.lifecycle_stage as LifecycleStage,
    creationTime: Number(row.creation_time),
    lastUpdateTime: Number(row.last_update_time),
    tags,
  };
}

/** The integer id of an experiment id string, or undefined when it cannot name a row. */
export function experimentIdNumber(id: string): number | undefined {
  return /^\d{1,15}$/.test(id) ? Number(id) : undefined;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Stable identity of a dataset inside an experiment (name and digest may each be 500 characters). */
function datasetKey(name: string, digest: string): string {
  return createHash("sha256").update(name).update("\u0000").update(digest).digest("hex");
}

/** `a` comes after `b` in the latest order (step, timestamp, value with NaN as NULL highest), as SQL. */
function laterSql(a: string, b: string, step: string, ts: string, value: string): RawBuilder<unknown> {
  const r = (t: string, c: string) => sql.ref(`${t}.${c}`);
  return sql`(${r(a, step)} > ${r(b, step)} OR (${r(a, step)} = ${r(b, step)} AND (${r(a, ts)} > ${r(b, ts)} OR (${r(a, ts)} = ${r(b, ts)} AND (${r(a, value)} IS NULL OR (${r(b, value)} IS NOT NULL AND ${r(a, value)} >= ${r(b, value)}))))))`;
}

function mergeExtreme(a: string, b: string, fn: "<" | ">"): RawBuilder<unknown> {
  const x = sql.ref(a);
  const y = sql.ref(b);
  return sql`CASE WHEN ${x} IS NULL THEN ${y} WHEN ${y} IS NULL THEN ${x} WHEN ${y} ${sql.raw(fn)} ${x} THEN ${y} ELSE ${x} END`;
}

/** The run data the API returns next to RunInfo. */
interface RunData {
  metrics: Metric[];
  params: Record<string, string>;
  tags: Record<string, string>;
  inputs: DatasetInput[];
}

/**
 * The Kysely implementation of `TrackingStore` shared by SQLite and PostgreSQL.
 * Backends override only what genuinely differs (SQLite's synchronous hot paths).
 */
export abstract class SqlTrackingStore implements TrackingStore {
  abstract readonly backend: "sqlite" | "postgres";
  protected readonly db: Database;
  protected readonly k: Db;
  protected readonly pg: boolean;

  constructor(db: Database) {
    this.db = db;
    this.k = db.kysely;
    this.pg = db.kind === "postgres";
  }

  // ------------------------------------------------------------ experiments

  async createExperiment(input: NewExperiment): Promise<Experiment> {
    try {
      const id = await this.k.transaction().execute(async (trx) => {
        const taken = await trx.selectFrom("experiments").select("experiment_id").where("name", "=", input.name).executeTakeFirst();
        if (taken) throw experimentNameTaken(input.name);
        const row = await trx
          .insertInto("experiments")
          .values({
            name: input.name,
            artifact_location: input.artifactLocation ?? "",
            lifecycle_stage: "active",
            creation_time: input.creationTime,
            last_update_time: input.creationTime,
          })
          .returning("experiment_id")
          .executeTakeFirstOrThrow();
        const experimentId = Number(row.experiment_id);
        if (input.artifactLocation === undefined) {
          await trx.updateTable("experiments").set({ artifact_location: `mlflow-artifacts:/${experimentId}` }).where("experiment_id", "=", experimentId).execute();
        }
        const tags = Object.entries(input.tags);
        if (tags.length) await trx.insertInto("experiment_tags").values(tags.map(([key, value]) => ({ experiment_id: experimentId, key, value }))).execute();
        return experimentId;
      });
      return (await this.getExperiment(String(id)))!;
    } catch (e) {
      // Two creators racing past the check meet the unique index instead.
      if (isUniqueViolation(e)) throw experimentNameTaken(input.name);
      throw e;
    }
  }

  async getExperiment(experimentId: string): Promise<Experiment | undefined> {
    const id = experimentIdNumber(experimentId);
    if (id === undefined) return undefined;
    const row = (await this.k.selectFrom("experiments").selectAll().where("experiment_id", "=", id).executeTakeFirst()) as ExperimentRow | undefined;
    return row ? (await this.#withExperimentTags([row]))[0] : undefined;
  }

  async getExperimentByName(name: string): Promise<Experiment | undefined> {
    const row = (await this.k.selectFrom("experiments").selectAll().where("name", "=", name).executeTakeFirst()) as ExperimentRow | undefined;
    return row ? (await this.#withExperimentTags([row]))[0] : undefined;
  }

  async searchExperiments(query: SearchExperimentsQuery): Promise<Experiment[]> {
    const rows = (await buildExperimentSearchSql(query, this.pg).execute(this.k)).rows;
    return this.#withExperimentTags(rows);
  }

  async #withExperimentTags(rows: ExperimentRow[]): Promise<Experiment[]> {
    const tags = new Map<number, Record<string, string>>();
    for (const ids of chunks(rows.map((r) => Number(r.experiment_id)), IN_CHUNK)) {
      const tagRows = await this.k.selectFrom("experiment_tags").select(["experiment_id", "key", "value"]).where("experiment_id", "in", ids).orderBy("key").execute();
      for (const t of tagRows) {
        const id = Number(t.experiment_id);
        let m = tags.get(id);
        if (!m) tags.set(id, (m = {}));
        m[t.key as string] = t.value as string;
      }
    }
    return rows.map((r) => toExperiment(r, tags.get(Number(r.experiment_id)) ?? {}));
  }

  async #lockExperiment(trx: Db, experimentId: string): Promise<ExperimentRow> {
    const id = experimentIdNumber(experimentId);
    if (id === undefined) throw experimentNotFound(experimentId);
    let q = trx.selectFrom("experiments").selectAll().where("experiment_id", "=", id);
    if (this.pg) q = q.forUpdate();
    const row = (await q.executeTakeFirst()) as ExperimentRow | undefined;
    if (!row) throw experimentNotFound(experimentId);
    return row;
  }

  async updateExperiment(experimentId: string, patch: ExperimentPatch): Promise<Experiment> {
    try {
      await this.k.transaction().execute(async (trx) => {
        const row = await this.#lockExperiment(trx, experimentId);
        const id = Number(row.experiment_id);
        const set: Record<string, unknown> = { last_update_time: patch.lastUpdateTime };
        if (patch.name !== undefined && patch.name !== row.name) {
          if (row.lifecycle_stage !== "active") throw experimentNotActive(experimentId, row.lifecycle_stage);
          const taken = await trx.selectFrom("experiments").select("experiment_id").where("name", "=", patch.name).executeTakeFirst();
          if (taken) throw experimentNameTaken(patch.name);
          set.name = patch.name;
        }
        if (patch.lifecycleStage !== undefined && patch.lifecycleStage !== row.lifecycle_stage) {
          set.lifecycle_stage = patch.lifecycleStage;
          if (patch.lifecycleStage === "deleted") {
            if (id === 0) throw new CairnError("INVALID_PARAMETER_VALUE", "The default experiment (id 0) cannot be deleted");
            // MLflow deletes an experiment's runs with it; they carry the deletion time so restore can find them.
            await trx
              .updateTable("runs")
              .set({ lifecycle_stage: "deleted", deleted_time: patch.lastUpdateTime })
              .where("experiment_id", "=", id)
              .where("lifecycle_stage", "=", "active")
              .execute();
          } else {
            // Restore only the runs deleted together with the experiment, not runs deleted on their own before.
            await trx
              .updateTable("runs")
              .set({ lifecycle_stage: "active", deleted_time: null })
              .where("experiment_id", "=", id)
              .where("lifecycle_stage", "=", "deleted")
              .where("deleted_time", "=", Number(row.last_update_time))
              .execute();
          }
        }
        // last_update_time changes only with a real change: while deleted it is the deletion time that
        // restore matches against its runs' deleted_time.
        if (set.name !== undefined || set.lifecycle_stage !== undefined) await trx.updateTable("experiments").set(set).where("experiment_id", "=", id).execute();
      });
    } catch (e) {
      if (isUniqueViolation(e) && patch.name !== undefined) throw experimentNameTaken(patch.name);
      throw e;
    }
    return (await this.getExperiment(experimentId))!;
  }

  async setExperimentTag(experimentId: string, key: string, value: string): Promise<void> {
    await this.k.transaction().execute(async (trx) => {
      const row = await this.#lockExperiment(trx, experimentId);
      if (row.lifecycle_stage !== "active") throw experimentNotActive(experimentId, row.lifecycle_stage);
      await trx
        .insertInto("experiment_tags")
        .values({ experiment_id: Number(row.experiment_id), key, value })
        .onConflict((oc) => oc.columns(["experiment_id", "key"]).doUpdateSet({ value }))
        .execute();
    });
  }

  async deleteExperimentTag(experimentId: string, key: string): Promise<void> {
    await this.k.transaction().execute(async (trx) => {
      const row = await this.#lockExperiment(trx, experimentId);
      if (row.lifecycle_stage !== "active") throw experimentNotActive(experimentId, row.lifecycle_stage);
      const res = await trx.deleteFrom("experiment_tags").where("experiment_id", "=", Number(row.experiment_id)).where("key", "=", key).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `No tag with name '${key}' in experiment ${experimentId}`);
    });
  }

  // ------------------------------------------------------------ runs

  async createRun(input: NewRun): Promise<Run> {
    const tagName = input.tags[RUN_NAME_TAG];
    if (input.runName && tagName !== undefined && tagName !== input.runName) {
      throw new CairnError("INVALID_PARAMETER_VALUE", `Both runName '${input.runName}' and tag '${RUN_NAME_TAG}' '${tagName}' were given, and they differ`);
    }
    const name = input.runName || tagName || generateRunName();
    const tags = { ...input.tags, [RUN_NAME_TAG]: name };
    try {
      await this.k.transaction().execute(async (trx) => {
        const exp = await this.#lockExperimentShared(trx, input.experimentId);
        if (exp.lifecycle_stage !== "active") throw experimentNotActive(input.experimentId, exp.lifecycle_stage);
        await trx
          .insertInto("runs")
          .values({
            run_id: input.runId,
            experiment_id: Number(exp.experiment_id),
            name,
            user_id: input.userId,
            status: input.status,
            start_time: input.startTime,
            end_time: null,
            deleted_time: null,
            artifact_uri: input.artifactUri,
            lifecycle_stage: "active",
          })
          .execute();
        const entries = Object.entries(tags).sort((a, b) => (a[0] < b[0] ? -1 : 1));
        await trx.insertInto("run_tags").values(entries.map(([key, value]) => ({ run_id: input.runId, key, value }))).execute();
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new CairnError("RESOURCE_ALREADY_EXISTS", `Run with id=${input.runId} already exists`);
      throw e;
    }
    return (await this.getRun(input.runId))!;
  }

  async #lockExperimentShared(trx: Db, experimentId: string): Promise<ExperimentRow> {
    const id = experimentIdNumber(experimentId);
    if (id === undefined) throw experimentNotFound(experimentId);
    let q = trx.selectFrom("experiments").selectAll().where("experiment_id", "=", id);
    if (this.pg) q = q.forShare();
    const row = (await q.executeTakeFirst()) as ExperimentRow | undefined;
    if (!row) throw experimentNotFound(experimentId);
    return row;
  }

  async getRun(runId: string): Promise<Run | undefined> {
    const row = (await this.k.selectFrom("runs").select([...RUN_COLUMNS]).where("run_id", "=", runId).executeTakeFirst()) as RunRow | undefined;
    if (!row) return undefined;
    return (await this.#withRunData([row]))[0];
  }

  async getRunInfo(runId: string): Promise<RunInfo | undefined> {
    const row = (await this.k.selectFrom("runs").select([...RUN_COLUMNS]).where("run_id", "=", runId).executeTakeFirst()) as RunRow | undefined;
    return row ? toRunInfo(row) : undefined;
  }

  async #lockRun(trx: Db, runId: string, mode: "share" | "update"): Promise<RunRow> {
    let q = trx.selectFrom("runs").select([...RUN_COLUMNS]).where("run_id", "=", runId);
    if (this.pg) q = mode === "share" ? q.forShare() : q.forUpdate();
    const row = (await q.executeTakeFirst()) as RunRow | undefined;
    if (!row) throw runNotFound(runId);
    return row;
  }

  async updateRun(runId: string, patch: RunPatch): Promise<RunInfo> {
    return this.k.transaction().execute(async (trx) => {
      const row = await this.#lockRun(trx, runId, "update");
      if (patch.lifecycleStage === undefined && row.lifecycle_stage !== "active") throw runNotActive(runId, row.lifecycle_stage);
      const set: Record<string, unknown> = {};
      if (patch.status !== undefined) set.status = patch.status;
      if (patch.endTime !== undefined) set.end_time = patch.endTime;
      if (patch.runName) {
        set.name = patch.runName;
        await trx
          .insertInto("run_tags")
          .values({ run_id: runId, key: RUN_NAME_TAG, value: patch.runName })
          .onConflict((oc) => oc.columns(["run_id", "key"]).doUpdateSet({ value: patch.runName! }))
          .execute();
      }
      if (patch.lifecycleStage !== undefined) {
        set.lifecycle_stage = patch.lifecycleStage;
        set.deleted_time = patch.deletedTime !== undefined ? patch.deletedTime : patch.lifecycleStage === "deleted" ? Date.now() : null;
      } else if (patch.deletedTime !== undefined) {
        set.deleted_time = patch.deletedTime;
      }
      if (Object.keys(set).length) await trx.updateTable("runs").set(set).where("run_id", "=", runId).execute();
      const updated = (await trx.selectFrom("runs").select([...RUN_COLUMNS]).where("run_id", "=", runId).executeTakeFirstOrThrow()) as RunRow;
      return toRunInfo(updated);
    });
  }

  async deleteRunTag(runId: string, key: string): Promise<void> {
    await this.k.transaction().execute(async (trx) => {
      const row = await this.#lockRun(trx, runId, "share");
      if (row.lifecycle_stage !== "active") throw runNotActive(runId, row.lifecycle_stage);
      const res = await trx.deleteFrom("run_tags").where("run_id", "=", runId).where("key", "=", key).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `No tag with name '${key}' in run with id=${runId}`);
    });
  }

  async logInputs(runId: string, inputs: DatasetInput[]): Promise<void> {
    await this.k.transaction().execute(async (trx) => {
      const run = await this.#lockRun(trx, runId, "share");
      if (run.lifecycle_stage !== "active") throw runNotActive(runId, run.lifecycle_stage);
      const experimentId = Number(run.experiment_id);
      for (const input of inputs) {
        const d = input.dataset;
        const key = datasetKey(d.name, d.digest);
        await trx
          .insertInto("datasets")
          .values({
            experiment_id: experimentId,
            dataset_key: key,
            name: d.name,
            digest: d.digest,
            source_type: d.sourceType,
            source: d.source,
            dataset_schema: d.schema ?? null,
            profile: d.profile ?? null,
          })
          .onConflict((oc) => oc.columns(["experiment_id", "dataset_key"]).doNothing())
          .execute();
        const ds = await trx.selectFrom("datasets").select("dataset_id").where("experiment_id", "=", experimentId).where("dataset_key", "=", key).executeTakeFirstOrThrow();
        await trx
          .insertInto("run_inputs")
          .values({ run_id: runId, dataset_id: ds.dataset_id })
          .onConflict((oc) => oc.columns(["run_id", "dataset_id"]).doNothing())
          .execute();
        const inp = await trx.selectFrom("run_inputs").select("input_id").where("run_id", "=", runId).where("dataset_id", "=", ds.dataset_id).executeTakeFirstOrThrow();
        const tags = Object.entries(input.tags).sort((a, b) => (a[0] < b[0] ? -1 : 1));
        if (tags.length) {
          await trx
            .insertInto("run_input_tags")
            .values(tags.map(([k, value]) => ({ input_id: inp.input_id, key: k, value })))
            .onConflict((oc) => oc.columns(["input_id", "key"]).doNothing())
            .execute();
        }
      }
    });
  }

  async searchRuns(query: SearchRunsQuery): Promise<Run[]> {
    const search = buildRunSearch(query, this.pg);
    const want = query.limit + 1;
    const forceWalk = await this.chooseOrderWalk(query, search);
    let rows = (await search.first(query.offset, want, forceWalk).execute(this.k)).rows;
    if (search.rest && rows.length < want) {
      // The page runs past the runs that have a value for the first order key into those without.
      let restOffset = 0;
      if (rows.length === 0 && query.offset > 0) {
        const counted = (await search.rest.countFirst().execute(this.k)).rows[0];
        restOffset = Math.max(0, query.offset - Number(counted?.n ?? 0));
      }
      rows = rows.concat((await search.rest.page(restOffset, want - rows.length).execute(this.k)).rows);
    }
    return this.#withRunData(rows);
  }

  /**
   * Whether to force the order walk of a run search (see `buildRunSearch`). PostgreSQL's planner
   * weighs LIMIT against an ordered index itself, so the default is no.
   */
  protected async chooseOrderWalk(_query: SearchRunsQuery, _search: RunSearch): Promise<boolean> {
    return false;
  }

  /** Loads tags, params, latest metrics and inputs of many runs with a few IN queries. */
  async #withRunData(rows: RunRow[]): Promise<Run[]> {
    const data = new Map<string, RunData>();
    for (const r of rows) data.set(r.run_id, { metrics: [], params: {}, tags: {}, inputs: [] });
    const get = (id: string) => data.get(id)!;
    for (const ids of chunks(rows.map((r) => r.run_id), IN_CHUNK)) {
      const [tags, params, metrics, inputs] = await Promise.all([
        this.k.selectFrom("run_tags").select(["run_id", "key", "value"]).where("run_id", "in", ids).orderBy("run_id").orderBy("key").execute(),
        this.k.selectFrom("params").select(["run_id", "key", "value"]).where("run_id", "in", ids).orderBy("run_id").orderBy("key").execute(),
        this.k.selectFrom("latest_metrics").select(["run_id", "key", "value", "timestamp", "step"]).where("run_id", "in", ids).orderBy("run_id").orderBy("key").execute(),
        this.k
          .selectFrom("run_inputs as i")
          .innerJoin("datasets as d", "d.dataset_id", "i.dataset_id")
          .select(["i.run_id", "i.input_id", "d.name", "d.digest", "d.source_type", "d.source", "d.dataset_schema", "d.profile"])
          .where("i.run_id", "in", ids)
          .orderBy("i.input_id")
          .execute(),
      ]);
      for (const t of tags) get(t.run_id).tags[t.key] = t.value;
      for (const p of params) get(p.run_id).params[p.key] = p.value;
      for (const m of metrics) get(m.run_id).metrics.push({ key: m.key, value: m.value === null ? NaN : Number(m.value), timestamp: Number(m.timestamp), step: Number(m.step) });
      if (inputs.length) {
        const inputTags = new Map<number, Record<string, string>>();
        for (const inputIds of chunks(inputs.map((i) => Number(i.input_id)), IN_CHUNK)) {
          const rowsT = await this.k.selectFrom("run_input_tags").select(["input_id", "key", "value"]).where("input_id", "in", inputIds).orderBy("key").execute();
          for (const t of rowsT) {
            const id = Number(t.input_id);
            let m = inputTags.get(id);
            if (!m) inputTags.set(id, (m = {}));
            m[t.key] = t.value;
          }
        }
        for (const i of inputs) {
          const dataset: DatasetInput["dataset"] = { name: i.name, digest: i.digest, sourceType: i.source_type, source: i.source };
          if (i.dataset_schema !== null) dataset.schema = i.dataset_schema;
          if (i.profile !== null) dataset.profile = i.profile;
          get(i.run_id).inputs.push({ dataset, tags: inputTags.get(Number(i.input_id)) ?? {} });
        }
      }
    }
    return rows.map((r) => {
      const d = get(r.run_id);
      return { info: toRunInfo(r), data: { metrics: d.metrics, params: d.params, tags: d.tags }, inputs: { datasetInputs: d.inputs } };
    });
  }

  // ------------------------------------------------------------ metrics

  async logBatch(runId: string, batch: LogBatchInput): Promise<void> {
    const prep = prepareBatch(batch);
    await this.k.transaction().execute(async (trx) => {
      const run = await this.#lockRun(trx, runId, prep.runName !== undefined ? "update" : "share");
      if (run.lifecycle_stage !== "active") throw runNotActive(runId, run.lifecycle_stage);
      await this.#writeBatch(trx, runId, prep);
    });
  }

  async #writeBatch(trx: Db, runId: string, prep: PreparedBatch): Promise<void> {
    if (prep.batchId !== undefined) {
      const fresh = await trx.insertInto("log_batches").values({ run_id: runId, batch_id: prep.batchId }).onConflict((oc) => oc.doNothing()).returning("batch_id").execute();
      if (fresh.length === 0) return;
    }
    if (prep.params.length) {
      // Insert-if-absent first, then compare: under concurrency the second writer of a key waits for the first.
      await trx
        .insertInto("params")
        .values(prep.params.map((p) => ({ run_id: runId, key: p.key, value: p.value })))
        .onConflict((oc) => oc.columns(["run_id", "key"]).doNothing())
        .execute();
      const stored = await trx
        .selectFrom("params")
        .select(["key", "value"])
        .where("run_id", "=", runId)
        .where("key", "in", prep.params.map((p) => p.key))
        .execute();
      const byKey = new Map(stored.map((s) => [s.key as string, s.value as string]));
      for (const p of prep.params) {
        const old = byKey.get(p.key);
        if (old !== undefined && old !== p.value) throw paramConflict(runId, p.key, old, p.value);
      }
    }
    if (prep.tags.length) {
      await trx
        .insertInto("run_tags")
        .values(prep.tags.map((t) => ({ run_id: runId, key: t.key, value: t.value })))
        .onConflict((oc) => oc.columns(["run_id", "key"]).doUpdateSet({ value: sql.ref("excluded.value") }))
        .execute();
      if (prep.runName !== undefined) await trx.updateTable("runs").set({ name: prep.runName }).where("run_id", "=", runId).execute();
    }
    if (!prep.series.length) return;
    const later = laterSql("excluded", "latest_metrics", "step", "timestamp", "value");
    const seriesRows = await trx
      .insertInto("latest_metrics")
      .values(
        prep.series.map((s) => ({ run_id: runId, key: s.key, value: s.latest.value, timestamp: s.latest.timestamp, step: s.latest.step, point_count: s.points.length })),
      )
      .onConflict((oc) =>
        oc.columns(["run_id", "key"]).doUpdateSet({
          value: sql`CASE WHEN ${later} THEN excluded.value ELSE latest_metrics.value END`,
          timestamp: sql`CASE WHEN ${later} THEN excluded.timestamp ELSE latest_metrics.timestamp END`,
          step: sql`CASE WHEN ${later} THEN excluded.step ELSE latest_metrics.step END`,
          point_count: sql`latest_metrics.point_count + excluded.point_count`,
        }),
      )
      .returning(["key", "series_id", "point_count"])
      .execute();
    const ids = new Map(seriesRows.map((r) => [r.key as string, { seriesId: Number(r.series_id), count: Number(r.point_count) }]));
    const raw: { series_id: number; step: number; timestamp: number; value: number | null }[] = [];
    for (const s of prep.series) {
      const seriesId = ids.get(s.key)!.seriesId;
      for (const p of s.points) raw.push({ series_id: seriesId, step: p.step, timestamp: p.timestamp, value: p.value });
    }
    for (const part of chunks(raw, INSERT_CHUNK)) await trx.insertInto("metrics").values(part).execute();

    const rollups: (RollupRow & { seriesId: number })[] = [];
    for (const s of prep.series) {
      const { seriesId, count } = ids.get(s.key)!;
      if (count <= ROLLUP_THRESHOLD) continue;
      let points: StoredPoint[] = s.points;
      if (count - s.points.length <= ROLLUP_THRESHOLD) {
        // This batch takes the series over the threshold: build its rollups from every raw point.
        const all = await trx.selectFrom("metrics").select(["step", "timestamp", "value"]).where("series_id", "=", seriesId).execute();
        points = all.map((p) => ({ step: Number(p.step), timestamp: Number(p.timestamp), value: p.value === null ? null : Number(p.value) }));
      }
      for (const r of aggregateRollups(points)) rollups.push({ ...r, seriesId });
    }
    await this.upsertRollups(trx, rollups);
  }

  /** Merges rollup rows into `metric_rollups` (insert, or combine with the stored row). */
  protected async upsertRollups(trx: Db, rollups: (RollupRow & { seriesId: number })[]): Promise<void> {
    if (!rollups.length) return;
    const later = laterSql("excluded", "metric_rollups", "last_step", "last_timestamp", "last_value");
    for (const part of chunks(rollups, INSERT_CHUNK)) {
      await trx
        .insertInto("metric_rollups")
        .values(
          part.map((r) => ({
            series_id: r.seriesId,
            level: r.level,
            block: r.block,
            point_count: r.count,
            min_value: r.minValue,
            max_value: r.maxValue,
            min_step: r.minStep,
            last_step: r.lastStep,
            last_timestamp: r.lastTimestamp,
            last_value: r.lastValue,
          })),
        )
        .onConflict((oc) =>
          oc.columns(["series_id", "level", "block"]).doUpdateSet({
            point_count: sql`metric_rollups.point_count + excluded.point_count`,
            min_value: mergeExtreme("metric_rollups.min_value", "excluded.min_value", "<"),
            max_value: mergeExtreme("metric_rollups.max_value", "excluded.max_value", ">"),
            min_step: sql`CASE WHEN excluded.min_step < metric_rollups.min_step THEN excluded.min_step ELSE metric_rollups.min_step END`,
            last_step: sql`CASE WHEN ${later} THEN excluded.last_step ELSE metric_rollups.last_step END`,
            last_timestamp: sql`CASE WHEN ${later} THEN excluded.last_timestamp ELSE metric_rollups.last_timestamp END`,
            last_value: sql`CASE WHEN ${later} THEN excluded.last_value ELSE metric_rollups.last_value END`,
          }),
        )
        .execute();
    }
  }

  async getMetricHistory(runId: string, key: string, page: { offset: number; limit: number }): Promise<Metric[]> {
    const run = await this.k.selectFrom("runs").select("run_id").where("run_id", "=", runId).executeTakeFirst();
    if (!run) throw runNotFound(runId);
    const series = await this.k.selectFrom("latest_metrics").select("series_id").where("run_id", "=", runId).where("key", "=", key).executeTakeFirst();
    if (!series) return [];
    let q = this.k.selectFrom("metrics").select(["step", "timestamp", "value"]).where("series_id", "=", series.series_id).orderBy("step").orderBy("timestamp");
    // PostgreSQL has no stable physical order for ties; the value makes paging deterministic.
    if (this.pg) q = q.orderBy("value");
    const rows = await q.limit(page.limit + 1).offset(page.offset).execute();
    return rows.map((p) => ({ key, value: p.value === null ? NaN : Number(p.value), timestamp: Number(p.timestamp), step: Number(p.step) }));
  }

  async downsampleMetric(runId: string, key: string, opts: DownsampleOptions): Promise<DownsampledSeries> {
    // One snapshot, so rollups and the raw edges agree under concurrent writes.
    let q = this.k.transaction();
    if (this.pg) q = q.setIsolationLevel("repeatable read");
    return q.execute(async (trx) => {
      const run = await trx.selectFrom("runs").select("run_id").where("run_id", "=", runId).executeTakeFirst();
      if (!run) throw runNotFound(runId);
      const series = await trx.selectFrom("latest_metrics").select(["series_id", "point_count", "step"]).where("run_id", "=", runId).where("key", "=", key).executeTakeFirst();
      const empty: DownsampledSeries = { runId, key, totalPoints: 0, buckets: [] };
      if (!series) return empty;
      const seriesId = Number(series.series_id);
      let lo = opts.minStep;
      if (lo === undefined) {
        const m = await trx.selectFrom("metrics").select((eb) => eb.fn.min("step").as("s")).where("series_id", "=", seriesId).executeTakeFirst();
        lo = Number(m?.s ?? 0);
      }
      const hi = opts.maxStep ?? Number(series.step);
      if (lo > hi) return empty;
      const hasRollups = Number(series.point_count) > ROLLUP_THRESHOLD;
      let inRange: number | undefined;
      if (needsRangeCount(lo, hi, opts.buckets, hasRollups)) {
        const w = ROLLUP_WIDTHS[0];
        const c = await trx
          .selectFrom("metric_rollups")
          .select((eb) => eb.fn.sum("point_count").as("n"))
          .where("series_id", "=", seriesId)
          .where("level", "=", w)
          .where("block", ">=", Math.floor(lo / w))
          .where("block", "<=", Math.floor(hi / w))
          .executeTakeFirst();
        inRange = Number(c?.n ?? 0);
      }
      const plan = planDownsample(lo, hi, opts.buckets, hasRollups, inRange);
      const acc = new BucketAccumulator(plan);
      const readRaw = async (from: number, to: number) => {
        const rows = await trx.selectFrom("metrics").select(["step", "timestamp", "value"]).where("series_id", "=", seriesId).where("step", ">=", from).where("step", "<=", to).execute();
        for (const p of rows) acc.addPoint(Number(p.step), Number(p.timestamp), p.value === null ? null : Number(p.value));
      };
      if (plan.mode === "raw") {
        await readRaw(plan.lo, plan.hi);
      } else {
        for (const b of plan.blocks) {
          const rows = await trx
            .selectFrom("metric_rollups")
            .select(["block", "point_count", "min_value", "max_value", "min_step", "last_step", "last_timestamp", "last_value"])
            .where("series_id", "=", seriesId)
            .where("level", "=", b.level)
            .where("block", ">=", b.fromBlock)
            .where("block", "<=", b.toBlock)
            .execute();
          for (const r of rows) {
            acc.addRollup({
              level: b.level,
              block: Number(r.block),
              count: Number(r.point_count),
              minValue: r.min_value === null ? null : Number(r.min_value),
              maxValue: r.max_value === null ? null : Number(r.max_value),
              minStep: Number(r.min_step),
              lastStep: Number(r.last_step),
              lastTimestamp: Number(r.last_timestamp),
              lastValue: r.last_value === null ? null : Number(r.last_value),
            });
          }
        }
        for (const r of plan.raw) await readRaw(r.from, r.to);
      }
      return acc.result(runId, key);
    });
  }

  /** Releases the store's own resources. The Database stays open: whoever opened it closes it. */
  async close(): Promise<void> {}
}
