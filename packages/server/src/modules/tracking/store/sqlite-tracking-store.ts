import type BetterSqlite3 from "better-sqlite3";
import type { RawBuilder } from "kysely";
import type { DownsampledSeries, Metric, RunInfo } from "@cairn/contract";
import type { Database } from "../../../platform/db/database.js";
import type { DownsampleOptions, LogBatchInput, SearchRunsQuery } from "./tracking-store.js";
import { paramConflict, prepareBatch, runNotActive, runNotFound } from "./batch.js";
import type { PreparedBatch } from "./batch.js";
import { BucketAccumulator, ROLLUP_THRESHOLD, ROLLUP_WIDTHS, aggregateRollups, mergeRollupRow, needsRangeCount, planDownsample } from "./rollups.js";
import type { RollupRow, StoredPoint } from "./rollups.js";
import { candidateRunsCountSql, keyCountSql, keyFilterCountSql } from "./search-sql.js";
import type { RunRow, RunSearch } from "./search-sql.js";
import { RUN_COLUMNS, SqlTrackingStore, toRunInfo } from "./sql-store-base.js";

/** A rollup row of one series, as a batch contributes it. */
interface SeriesRollup {
  seriesId: number;
  row: RollupRow;
}

/** A batch waiting for the next group commit. */
interface PendingBatch {
  runId: string;
  prep: PreparedBatch;
  resolve(): void;
  reject(e: unknown): void;
  error?: unknown;
}

/**
 * Rows counted at most per selectivity estimate: a fifth of the candidate runs, within bounds
 * (10,000 index entries count in about a millisecond). A capped count makes the walk look costlier,
 * which errs towards the planner's own plan.
 */
const estimateCap = (candidates: number) => Math.min(50_000, Math.max(5_000, Math.ceil(candidates / 5)));
/** Candidate runs counted at most, and how long that count is reused. */
const CANDIDATES_CAP = 500_000;
const CANDIDATES_TTL_MS = 30_000;
/** How often a search checks whether planner statistics are stale. */
const STATS_CHECK_MS = 60_000;
/** Tables the run search reads; their statistics are refreshed when `runs` doubles. */
const SEARCH_TABLES = ["runs", "params", "run_tags", "latest_metrics", "experiment_tags", "experiments"];

/** Points per multi-row INSERT: amortises the per-statement cost (about 1.6x faster than one row each). */
const POINTS_PER_INSERT = 100;
/** Rollup rows per multi-row upsert. */
const ROLLUPS_PER_UPSERT = 16;

const LATER = (a: string, b: string, step: string, ts: string, value: string) =>
  `(${a}.${step} > ${b}.${step} OR (${a}.${step} = ${b}.${step} AND (${a}.${ts} > ${b}.${ts} OR (${a}.${ts} = ${b}.${ts} AND (${a}.${value} IS NULL OR (${b}.${value} IS NOT NULL AND ${a}.${value} >= ${b}.${value}))))))`;
const MERGE_EXTREME = (a: string, b: string, op: "<" | ">") => `CASE WHEN ${a} IS NULL THEN ${b} WHEN ${b} IS NULL THEN ${a} WHEN ${b} ${op} ${a} THEN ${b} ELSE ${a} END`;

/** The rollup merge: insert, or combine with the stored row (count adds, extremes, the later "last"). */
function rollupUpsertSql(rows: number): string {
  const later = LATER("excluded", "metric_rollups", "last_step", "last_timestamp", "last_value");
  return `INSERT INTO metric_rollups (series_id, level, block, point_count, min_value, max_value, min_step, last_step, last_timestamp, last_value)
    VALUES ${Array(rows).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}
    ON CONFLICT (series_id, level, block) DO UPDATE SET
      point_count = metric_rollups.point_count + excluded.point_count,
      min_value = ${MERGE_EXTREME("metric_rollups.min_value", "excluded.min_value", "<")},
      max_value = ${MERGE_EXTREME("metric_rollups.max_value", "excluded.max_value", ">")},
      min_step = CASE WHEN excluded.min_step < metric_rollups.min_step THEN excluded.min_step ELSE metric_rollups.min_step END,
      last_step = CASE WHEN ${later} THEN excluded.last_step ELSE metric_rollups.last_step END,
      last_timestamp = CASE WHEN ${later} THEN excluded.last_timestamp ELSE metric_rollups.last_timestamp END,
      last_value = CASE WHEN ${later} THEN excluded.last_value ELSE metric_rollups.last_value END`;
}

function prepareStatements(db: BetterSqlite3.Database) {
  const latestLater = LATER("excluded", "latest_metrics", "step", "timestamp", "value");
  return {
    run: db.prepare(`SELECT ${RUN_COLUMNS.join(", ")} FROM runs WHERE run_id = ?`),
    runStage: db.prepare(`SELECT lifecycle_stage FROM runs WHERE run_id = ?`).pluck(),
    paramValue: db.prepare(`SELECT value FROM params WHERE run_id = ? AND key = ?`).pluck(),
    insertParam: db.prepare(`INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)`),
    upsertTag: db.prepare(`INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value`),
    renameRun: db.prepare(`UPDATE runs SET name = ? WHERE run_id = ?`),
    upsertLatest: db.prepare(
      `INSERT INTO latest_metrics (run_id, key, value, timestamp, step, point_count) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id, key) DO UPDATE SET
         value = CASE WHEN ${latestLater} THEN excluded.value ELSE latest_metrics.value END,
         timestamp = CASE WHEN ${latestLater} THEN excluded.timestamp ELSE latest_metrics.timestamp END,
         step = CASE WHEN ${latestLater} THEN excluded.step ELSE latest_metrics.step END,
         point_count = latest_metrics.point_count + excluded.point_count
       RETURNING series_id, point_count`,
    ).raw(),
    insertBatchId: db.prepare(`INSERT INTO log_batches (run_id, batch_id) VALUES (?, ?) ON CONFLICT DO NOTHING`),
    seriesPoints: db.prepare(`SELECT step, timestamp, value FROM metrics WHERE series_id = ?`).raw(),
    series: db.prepare(`SELECT series_id, point_count, step FROM latest_metrics WHERE run_id = ? AND key = ?`).raw(),
    seriesMinStep: db.prepare(`SELECT min(step) FROM metrics WHERE series_id = ?`).pluck(),
    history: db.prepare(`SELECT step, timestamp, value FROM metrics WHERE series_id = ? ORDER BY step, timestamp LIMIT ? OFFSET ?`).raw(),
    rawRange: db.prepare(`SELECT step, timestamp, value FROM metrics WHERE series_id = ? AND step >= ? AND step <= ?`).raw(),
    rollupCount: db.prepare(`SELECT sum(point_count) FROM metric_rollups WHERE series_id = ? AND level = ? AND block >= ? AND block <= ?`).pluck(),
    rollupRange: db
      .prepare(
        `SELECT block, point_count, min_value, max_value, min_step, last_step, last_timestamp, last_value
         FROM metric_rollups WHERE series_id = ? AND level = ? AND block >= ? AND block <= ?`,
      )
      .raw(),
  };
}

type Statements = ReturnType<typeof prepareStatements>;
type RawRow = unknown[];

/**
 * The SQLite tracking store. Cold paths use the shared Kysely implementation; the hot paths
 * (logBatch, getRunInfo, getMetricHistory, downsampleMetric) run cached better-sqlite3 statements
 * inside one synchronous transaction, which is what makes 1000-point batches cheap.
 *
 * Throws the CairnErrors documented on `TrackingStore`.
 * @example const store = new SqliteTrackingStore(await openDatabase("sqlite:///tmp/cairn.db")) // after migrate()
 */
export class SqliteTrackingStore extends SqlTrackingStore {
  readonly backend = "sqlite" as const;
  #sqlite: BetterSqlite3.Database;
  #s: Statements;
  #insertPoints = new Map<number, BetterSqlite3.Statement>();
  #upsertRollups = new Map<number, BetterSqlite3.Statement>();
  #logBatchTx: BetterSqlite3.Transaction<(runId: string, prep: PreparedBatch) => void>;
  #groupTx: BetterSqlite3.Transaction<(group: PendingBatch[]) => void>;
  #pending: PendingBatch[] = [];
  #readTx: BetterSqlite3.Transaction<(fn: () => unknown) => unknown>;
  #candidates = new Map<string, { n: number; at: number }>();
  #statsCheckedAt = 0;

  /** Expects a migrated database (see `createTrackingStore`). */
  constructor(db: Database) {
    super(db);
    if (db.kind !== "sqlite" || !db.sqlite) throw new Error("SqliteTrackingStore needs a SQLite database");
    this.#sqlite = db.sqlite;
    this.#s = prepareStatements(this.#sqlite);
    this.#logBatchTx = this.#sqlite.transaction((runId: string, prep: PreparedBatch) => this.#writeRollups(this.#writeBatch(runId, prep)));
    const savepoint = this.#sqlite.transaction((runId: string, prep: PreparedBatch) => this.#writeBatch(runId, prep));
    // Inside #groupTx each batch runs as a nested transaction, i.e. a SAVEPOINT: a failing batch
    // rolls back alone while the others in the group commit together. Rollup rows are mergeable, so
    // the group's rows for one block are merged in memory and written once, after every savepoint.
    this.#groupTx = this.#sqlite.transaction((group: PendingBatch[]) => {
      const merged = new Map<string, SeriesRollup>();
      for (const b of group) {
        try {
          for (const r of savepoint(b.runId, b.prep)) {
            const id = `${r.seriesId}:${r.row.level}:${r.row.block}`;
            const cur = merged.get(id);
            if (cur) mergeRollupRow(cur.row, r.row);
            else merged.set(id, { seriesId: r.seriesId, row: { ...r.row } });
          }
        } catch (e) {
          // SQLite may roll back the whole transaction on some errors (disk full, I/O): then the
          // group must fail as one, or later batches would commit alone and rollups drift.
          if (!this.#sqlite.inTransaction) throw e;
          b.error = e;
        }
      }
      this.#writeRollups(merged.values());
    });
    this.#readTx = this.#sqlite.transaction((fn: () => unknown) => fn());
    this.#refreshStatistics();
  }

  /**
   * Runs ANALYZE on the search tables when `runs` has at least doubled since the last one, so the
   * planner's statistics stay representative at a total cost proportional to the data (geometric steps).
   * Small databases (under 500 runs) plan well without statistics.
   */
  #refreshStatistics(): void {
    this.#statsCheckedAt = Date.now();
    const runs = (this.#sqlite.prepare("SELECT max(rowid) FROM runs").pluck().get() as number | null) ?? 0;
    let analyzed = 0;
    try {
      const stat = this.#sqlite.prepare("SELECT stat FROM sqlite_stat1 WHERE tbl = 'runs' AND idx = 'sqlite_autoindex_runs_1'").pluck().get() as string | undefined;
      analyzed = Number(stat?.split(" ")[0] ?? 0);
    } catch {
      // No sqlite_stat1 table yet: never analyzed.
    }
    if (runs < 2 * Math.max(analyzed, 250)) return;
    for (const table of SEARCH_TABLES) this.#sqlite.exec(`ANALYZE ${table}`);
  }

  /**
   * SQLite's planner does not weigh an ORDER BY ... LIMIT that an index walk satisfies, so it sorts every
   * candidate even when walking the first order key's index would stop after one page. Walk when the
   * estimated rows walked (page size / joint selectivity of the filters) are fewer than the rows the
   * most selective filter yields. Estimates are bounded index counts, assuming independent filters.
   */
  protected override async chooseOrderWalk(q: SearchRunsQuery, s: RunSearch): Promise<boolean> {
    if (!s.walk || s.pinsRunIds) return false;
    if (Date.now() - this.#statsCheckedAt > STATS_CHECK_MS) await this.#whenIdle(() => this.#refreshStatistics());
    const count = async (query: RawBuilder<{ n: number }>) => Number((await query.execute(this.k)).rows[0]?.n ?? 0);
    const cacheKey = `${q.viewType}:${[...q.experimentIds].sort().join(",")}`;
    let cached = this.#candidates.get(cacheKey);
    if (!cached || Date.now() - cached.at > CANDIDATES_TTL_MS) {
      cached = { n: await count(candidateRunsCountSql(q.experimentIds, q.viewType, CANDIDATES_CAP)), at: Date.now() };
      if (this.#candidates.size >= 1000) this.#candidates.clear();
      this.#candidates.set(cacheKey, cached);
    }
    const candidates = cached.n;
    if (candidates === 0) return false;
    const walkFilter = s.walk.kind === "key" ? s.walk.filter : undefined;
    let driveRows = candidates;
    let selectivity = 0.5 ** s.otherTerms;
    for (const f of s.keyFilters) {
      if (f === walkFilter) continue;
      if (!f.sargable) {
        selectivity *= 0.5;
        continue;
      }
      const c = await count(keyFilterCountSql(f, estimateCap(candidates)));
      selectivity *= Math.min(1, Math.max(c, 0.5) / candidates);
      driveRows = Math.min(driveRows, c);
    }
    if ((q.offset + q.limit + 1) / selectivity < driveRows) return true;
    // A walk may still read fewer rows when its whole range is no longer than the best drive.
    if (s.walk.kind === "runs") return false;
    const cap = driveRows + 1;
    const range = walkFilter?.sargable ? await count(keyFilterCountSql(walkFilter, cap)) : await count(keyCountSql(s.walk.type, s.walk.key, cap));
    return range <= driveRows;
  }

  /**
   * Runs synchronous work on the shared connection. A Kysely transaction may be open on it across an
   * await; the work then waits for the connection instead of landing inside that transaction.
   */
  #whenIdle<T>(fn: () => T): Promise<T> {
    if (!this.#sqlite.inTransaction) {
      try {
        return Promise.resolve(fn());
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return this.k.connection().execute(async () => fn());
  }

  /** Runs reads in one deferred transaction: a consistent snapshot even with another process writing. */
  #read<T>(fn: () => T): T {
    return this.#readTx(fn) as T;
  }

  override logBatch(runId: string, batch: LogBatchInput): Promise<void> {
    let prep: PreparedBatch;
    try {
      prep = prepareBatch(batch);
    } catch (e) {
      return Promise.reject(e);
    }
    // Group commit: batches that arrive in the same event-loop turn share one transaction, so the
    // commit (a WAL write, the dominant cost of a small batch) is paid once for all of them. Each
    // batch is still atomic on its own (a savepoint), and every caller is answered only after the
    // commit that holds its batch has returned.
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ runId, prep, resolve, reject });
      if (this.#pending.length === 1) setImmediate(() => void this.#flushGroup());
    });
  }

  async #flushGroup(): Promise<void> {
    const group = this.#pending;
    this.#pending = [];
    try {
      await this.#whenIdle(() => (group.length === 1 ? this.#logBatchTx.immediate(group[0]!.runId, group[0]!.prep) : this.#groupTx.immediate(group)));
    } catch (e) {
      for (const b of group) if (b.error === undefined) b.error = e;
    }
    for (const b of group) {
      if (b.error === undefined) b.resolve();
      else b.reject(b.error);
    }
  }

  #insertPointsStatement(rows: number): BetterSqlite3.Statement {
    let st = this.#insertPoints.get(rows);
    if (!st) {
      st = this.#sqlite.prepare(`INSERT INTO metrics (series_id, step, timestamp, value) VALUES ${Array(rows).fill("(?, ?, ?, ?)").join(", ")}`);
      this.#insertPoints.set(rows, st);
    }
    return st;
  }

  #upsertRollupsStatement(rows: number): BetterSqlite3.Statement {
    let st = this.#upsertRollups.get(rows);
    if (!st) {
      st = this.#sqlite.prepare(rollupUpsertSql(rows));
      this.#upsertRollups.set(rows, st);
    }
    return st;
  }

  #writeBatch(runId: string, prep: PreparedBatch): SeriesRollup[] {
    const s = this.#s;
    const stage = s.runStage.get(runId) as string | undefined;
    if (stage === undefined) throw runNotFound(runId);
    if (stage !== "active") throw runNotActive(runId, stage);
    if (prep.batchId !== undefined && s.insertBatchId.run(runId, prep.batchId).changes === 0) return [];
    for (const p of prep.params) {
      const old = s.paramValue.get(runId, p.key) as string | undefined;
      if (old === undefined) s.insertParam.run(runId, p.key, p.value);
      else if (old !== p.value) throw paramConflict(runId, p.key, old, p.value);
    }
    for (const t of prep.tags) s.upsertTag.run(runId, t.key, t.value);
    if (prep.runName !== undefined) s.renameRun.run(prep.runName, runId);
    const ids: [seriesId: number, count: number][] = [];
    for (const ser of prep.series) {
      const l = ser.latest;
      ids.push(s.upsertLatest.get(runId, ser.key, l.value, l.timestamp, l.step, ser.points.length) as [number, number]);
    }
    // All points of the batch in multi-row statements, across series (many keys of one step each is common).
    const args: (number | null)[] = [];
    let rows = 0;
    for (let i = 0; i < prep.series.length; i++) {
      const seriesId = ids[i]![0];
      for (const p of prep.series[i]!.points) {
        args.push(seriesId, p.step, p.timestamp, p.value);
        if (++rows === POINTS_PER_INSERT) {
          this.#insertPointsStatement(rows).run(args);
          args.length = 0;
          rows = 0;
        }
      }
    }
    if (rows) this.#insertPointsStatement(rows).run(args);
    const rollups: SeriesRollup[] = [];
    for (let i = 0; i < prep.series.length; i++) {
      const [seriesId, count] = ids[i]!;
      const pts = prep.series[i]!.points;
      if (count <= ROLLUP_THRESHOLD) continue;
      let source: StoredPoint[] = pts;
      if (count - pts.length <= ROLLUP_THRESHOLD) {
        // This batch takes the series over the threshold: build its rollups from every raw point.
        source = (s.seriesPoints.all(seriesId) as [number, number, number | null][]).map(([step, timestamp, value]) => ({ step, timestamp, value }));
      }
      for (const r of aggregateRollups(source)) rollups.push({ seriesId, row: r });
    }
    return rollups;
  }

  /** Merges rollup rows into the table (rows for one block may repeat; the upsert merges them). */
  #writeRollups(rollups: Iterable<SeriesRollup>): void {
    const rollupArgs: (number | null)[] = [];
    let rollupRows = 0;
    for (const { seriesId, row: r } of rollups) {
      rollupArgs.push(seriesId, r.level, r.block, r.count, r.minValue, r.maxValue, r.minStep, r.lastStep, r.lastTimestamp, r.lastValue);
      if (++rollupRows === ROLLUPS_PER_UPSERT) {
        this.#upsertRollupsStatement(rollupRows).run(rollupArgs);
        rollupArgs.length = 0;
        rollupRows = 0;
      }
    }
    if (rollupRows) this.#upsertRollupsStatement(rollupRows).run(rollupArgs);
  }

  override getRunInfo(runId: string): Promise<RunInfo | undefined> {
    return this.#whenIdle(() => {
      const row = this.#s.run.get(runId) as RunRow | undefined;
      return row ? toRunInfo(row) : undefined;
    });
  }

  override getMetricHistory(runId: string, key: string, page: { offset: number; limit: number }): Promise<Metric[]> {
    return this.#whenIdle(() =>
      this.#read(() => {
        if (this.#s.runStage.get(runId) === undefined) throw runNotFound(runId);
        const series = this.#s.series.get(runId, key) as RawRow | undefined;
        if (!series) return [];
        const rows = this.#s.history.all(series[0], page.limit + 1, page.offset) as [number, number, number | null][];
        return rows.map(([step, timestamp, value]) => ({ key, value: value === null ? NaN : value, timestamp, step }));
      }),
    );
  }

  override downsampleMetric(runId: string, key: string, opts: DownsampleOptions): Promise<DownsampledSeries> {
    return this.#whenIdle(() => this.#read(() => this.#downsample(runId, key, opts)));
  }

  #downsample(runId: string, key: string, opts: DownsampleOptions): DownsampledSeries {
    const s = this.#s;
    if (s.runStage.get(runId) === undefined) throw runNotFound(runId);
    const empty: DownsampledSeries = { runId, key, totalPoints: 0, buckets: [] };
    const series = s.series.get(runId, key) as [number, number, number] | undefined;
    if (!series) return empty;
    const [seriesId, count, maxStep] = series;
    const lo = opts.minStep ?? ((s.seriesMinStep.get(seriesId) as number | null) ?? 0);
    const hi = opts.maxStep ?? maxStep;
    if (lo > hi) return empty;
    const hasRollups = count > ROLLUP_THRESHOLD;
    const w = ROLLUP_WIDTHS[0];
    const inRange = needsRangeCount(lo, hi, opts.buckets, hasRollups) ? ((s.rollupCount.get(seriesId, w, Math.floor(lo / w), Math.floor(hi / w)) as number | null) ?? 0) : undefined;
    const plan = planDownsample(lo, hi, opts.buckets, hasRollups, inRange);
    const acc = new BucketAccumulator(plan);
    const readRaw = (from: number, to: number) => {
      for (const [step, timestamp, value] of s.rawRange.all(seriesId, from, to) as [number, number, number | null][]) acc.addPoint(step, timestamp, value);
    };
    if (plan.mode === "raw") {
      readRaw(plan.lo, plan.hi);
      return acc.result(runId, key);
    }
    for (const b of plan.blocks) {
      const rows = s.rollupRange.all(seriesId, b.level, b.fromBlock, b.toBlock) as [number, number, number | null, number | null, number, number, number, number | null][];
      for (const [block, c, minValue, maxValue, minStep, lastStep, lastTimestamp, lastValue] of rows) {
        acc.addRollupFields(b.level, block, c, minValue, maxValue, minStep, lastStep, lastTimestamp, lastValue);
      }
    }
    for (const r of plan.raw) readRaw(r.from, r.to);
    return acc.result(runId, key);
  }
}
