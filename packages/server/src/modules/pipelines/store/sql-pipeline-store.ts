import { CairnError, type LogEntry } from "@cairn/contract";
import { sql, type Kysely } from "kysely";
import { isUniqueViolation, migrate, type Database } from "../../../platform/db/database.js";
import { pipelineMigrations } from "./migrations.js";
import type { CacheRow, NewLogLine, PipelineRow, PipelineStore, RunPatch, RunRow, RunStats, SchedulePatch, ScheduleRow, StepPatch, StepRow, WorkerRow } from "./pipeline-store.js";

type Row = Record<string, unknown>;

const json = (v: unknown) => JSON.stringify(v);
const parse = <T>(v: unknown): T => JSON.parse(String(v)) as T;
const num = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));
const str = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));

/** Sets `o[k] = v` only for defined values, so optional fields stay absent (exactOptionalPropertyTypes). */
function put<T extends object, K extends keyof T>(o: T, k: K, v: T[K] | undefined): void {
  if (v !== undefined) o[k] = v;
}

function pipelineOf(r: Row): PipelineRow {
  const p: PipelineRow = { name: String(r.name), definition: parse(r.definition) };
  if (r.source_dataset != null && r.source_version != null) p.source = { dataset: String(r.source_dataset), version: String(r.source_version) };
  put(p, "pushedAt", num(r.pushed_at));
  put(p, "pushedBy", str(r.pushed_by));
  return p;
}

function runOf(r: Row): RunRow {
  const run: RunRow = {
    id: String(r.id),
    pipeline: String(r.pipeline),
    status: String(r.status) as RunRow["status"],
    mode: String(r.mode) as RunRow["mode"],
    params: parse(r.params),
    trigger: r.trigger_detail == null ? { kind: String(r.trigger_kind) as RunRow["trigger"]["kind"] } : { kind: String(r.trigger_kind) as RunRow["trigger"]["kind"], detail: String(r.trigger_detail) },
    spec: parse(r.spec),
    createdAt: Number(r.created_at),
    cancelRequested: Number(r.cancel_requested) !== 0,
  };
  if (r.source_dataset != null && r.source_version != null) run.source = { dataset: String(r.source_dataset), version: String(r.source_version) };
  put(run, "startedAt", num(r.started_at));
  put(run, "endedAt", num(r.ended_at));
  put(run, "error", str(r.error));
  return run;
}

const STEP_COLUMNS: Record<keyof StepPatch, string> = {
  status: "status",
  attempts: "attempts",
  stepRunId: "step_run_id",
  workerId: "worker_id",
  gpus: "gpus",
  startedAt: "started_at",
  endedAt: "ended_at",
  durationMs: "duration_ms",
  error: "error",
  logTail: "log_tail",
  cacheKey: "cache_key",
  cacheReason: "cache_reason",
  outputs: "outputs",
  outVersion: "out_version",
  claim: "claim",
  token: "token",
  leaseUntil: "lease_until",
  readyAt: "ready_at",
};

function stepOf(r: Row): StepRow {
  const s: StepRow = {
    runId: String(r.run_id),
    name: String(r.name),
    idx: Number(r.idx),
    status: String(r.status) as StepRow["status"],
    after: parse(r.after),
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    resources: { cpu: Number(r.cpu), memoryMb: Number(r.memory_mb), gpu: Number(r.gpu) },
    cache: Number(r.cache) !== 0,
    claim: Number(r.claim),
  };
  put(s, "stepRunId", str(r.step_run_id));
  put(s, "workerId", str(r.worker_id));
  if (r.gpus != null) s.gpus = parse(r.gpus);
  put(s, "startedAt", num(r.started_at));
  put(s, "endedAt", num(r.ended_at));
  put(s, "durationMs", num(r.duration_ms));
  put(s, "error", str(r.error));
  put(s, "logTail", str(r.log_tail));
  put(s, "cacheKey", str(r.cache_key));
  put(s, "cacheReason", str(r.cache_reason));
  if (r.outputs != null) s.outputs = parse(r.outputs);
  put(s, "outVersion", str(r.out_version));
  put(s, "token", str(r.token));
  put(s, "leaseUntil", num(r.lease_until));
  put(s, "readyAt", num(r.ready_at));
  return s;
}

function stepValues(p: StepPatch): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined) continue;
    const col = STEP_COLUMNS[k as keyof StepPatch];
    if (!col) continue;
    out[col] = v === null ? null : k === "gpus" || k === "outputs" ? json(v) : v;
  }
  return out;
}

function workerOf(r: Row): WorkerRow {
  const w: WorkerRow = {
    id: String(r.id),
    name: String(r.name),
    resources: parse(r.resources),
    leaseMs: Number(r.lease_ms),
    registeredAt: Number(r.registered_at),
    lastSeenAt: Number(r.last_seen_at),
  };
  put(w, "host", str(r.host));
  return w;
}

function scheduleOf(r: Row): ScheduleRow {
  const s: ScheduleRow = {
    id: String(r.id),
    pipeline: String(r.pipeline),
    timezone: String(r.timezone),
    params: parse(r.params),
    enabled: Number(r.enabled) !== 0,
    createdAt: Number(r.created_at),
  };
  put(s, "cron", str(r.cron));
  put(s, "onDataset", str(r.on_dataset));
  put(s, "nextRunAt", num(r.next_run_at));
  put(s, "lastRunAt", num(r.last_run_at));
  put(s, "lastRunId", str(r.last_run_id));
  put(s, "lastDatasetVersion", str(r.last_dataset_version));
  return s;
}

const SCHEDULE_COLUMNS: Record<keyof SchedulePatch, string> = {
  cron: "cron",
  timezone: "timezone",
  onDataset: "on_dataset",
  params: "params",
  enabled: "enabled",
  nextRunAt: "next_run_at",
  lastRunAt: "last_run_at",
  lastRunId: "last_run_id",
  lastDatasetVersion: "last_dataset_version",
};

/** The pipeline store over SQLite or PostgreSQL (see `migrations.ts` for the tables). */
export class SqlPipelineStore implements PipelineStore {
  readonly #k: Kysely<any>;
  readonly #pg: boolean;
  readonly #inTx: boolean;

  constructor(k: Kysely<any>, pg: boolean, inTx = false) {
    this.#k = k;
    this.#pg = pg;
    this.#inTx = inTx;
  }

  async tx<T>(fn: (s: PipelineStore) => Promise<T>): Promise<T> {
    if (this.#inTx) return fn(this);
    return this.#k.transaction().execute((trx) => fn(new SqlPipelineStore(trx, this.#pg, true)));
  }

  async upsertPipeline(p: PipelineRow): Promise<void> {
    const row = {
      name: p.name,
      definition: json(p.definition),
      source_dataset: p.source?.dataset ?? null,
      source_version: p.source?.version ?? null,
      pushed_at: p.pushedAt ?? null,
      pushed_by: p.pushedBy ?? null,
    };
    await this.#k
      .insertInto("pl_pipelines")
      .values(row)
      .onConflict((oc) => oc.column("name").doUpdateSet({ definition: row.definition, source_dataset: row.source_dataset, source_version: row.source_version, pushed_at: row.pushed_at, pushed_by: row.pushed_by }))
      .execute();
  }

  async getPipeline(name: string): Promise<PipelineRow | undefined> {
    const r = await this.#k.selectFrom("pl_pipelines").selectAll().where("name", "=", name).executeTakeFirst();
    return r ? pipelineOf(r) : undefined;
  }

  async listPipelines(): Promise<PipelineRow[]> {
    return (await this.#k.selectFrom("pl_pipelines").selectAll().orderBy("name").execute()).map(pipelineOf);
  }

  async runStats(): Promise<Map<string, RunStats>> {
    const counts = await this.#k.selectFrom("pl_runs").select(["pipeline", sql<number>`count(*)`.as("n"), sql<number>`max(created_at)`.as("last")]).groupBy("pipeline").execute();
    const out = new Map<string, RunStats>();
    for (const c of counts) {
      const last = await this.#k.selectFrom("pl_runs").select(["id", "status", "created_at"]).where("pipeline", "=", c.pipeline).where("created_at", "=", c.last).orderBy("id", "desc").executeTakeFirst();
      if (last) out.set(String(c.pipeline), { count: Number(c.n), last: { id: String(last.id), status: String(last.status), createdAt: Number(last.created_at) } });
    }
    return out;
  }

  async insertRun(run: RunRow, steps: StepRow[]): Promise<void> {
    await this.tx(async (s) => {
      const k = (s as SqlPipelineStore).#k;
      try {
        await k
          .insertInto("pl_runs")
          .values({
            id: run.id,
            pipeline: run.pipeline,
            status: run.status,
            mode: run.mode,
            params: json(run.params),
            trigger_kind: run.trigger.kind,
            trigger_detail: run.trigger.detail ?? null,
            spec: json(run.spec),
            source_dataset: run.source?.dataset ?? null,
            source_version: run.source?.version ?? null,
            created_at: run.createdAt,
            started_at: run.startedAt ?? null,
            ended_at: run.endedAt ?? null,
            cancel_requested: run.cancelRequested ? 1 : 0,
            error: run.error ?? null,
          })
          .execute();
      } catch (e) {
        if (isUniqueViolation(e)) throw new CairnError("RESOURCE_ALREADY_EXISTS", `Pipeline run '${run.id}' already exists`);
        throw e;
      }
      for (const st of steps) {
        await k
          .insertInto("pl_steps")
          .values({
            run_id: st.runId,
            name: st.name,
            idx: st.idx,
            status: st.status,
            after: json(st.after),
            attempts: st.attempts,
            max_attempts: st.maxAttempts,
            cpu: st.resources.cpu,
            memory_mb: st.resources.memoryMb,
            gpu: st.resources.gpu,
            cache: st.cache ? 1 : 0,
            claim: st.claim,
            ...stepValues(st),
          })
          .execute();
      }
    });
  }

  async getRun(id: string): Promise<RunRow | undefined> {
    const r = await this.#k.selectFrom("pl_runs").selectAll().where("id", "=", id).executeTakeFirst();
    return r ? runOf(r) : undefined;
  }

  async listRuns(q: { pipeline?: string; status?: string; limit: number }): Promise<RunRow[]> {
    let query = this.#k.selectFrom("pl_runs").selectAll();
    if (q.pipeline !== undefined) query = query.where("pipeline", "=", q.pipeline);
    if (q.status !== undefined) query = query.where("status", "=", q.status);
    return (await query.orderBy("created_at", "desc").orderBy("id", "desc").limit(q.limit).execute()).map(runOf);
  }

  async updateRun(id: string, patch: RunPatch): Promise<void> {
    const v: Row = {};
    if (patch.status !== undefined) v.status = patch.status;
    if (patch.startedAt !== undefined) v.started_at = patch.startedAt;
    if (patch.endedAt !== undefined) v.ended_at = patch.endedAt;
    if (patch.cancelRequested !== undefined) v.cancel_requested = patch.cancelRequested ? 1 : 0;
    if (patch.error !== undefined) v.error = patch.error;
    if (patch.spec !== undefined) v.spec = patch.spec === null ? null : json(patch.spec);
    if (patch.params !== undefined) v.params = patch.params === null ? null : json(patch.params);
    if (Object.keys(v).length > 0) await this.#k.updateTable("pl_runs").set(v).where("id", "=", id).execute();
  }

  async lockRun(id: string): Promise<void> {
    if (this.#pg) await sql`select id from pl_runs where id = ${id} for update`.execute(this.#k);
  }

  async markRunEnding(id: string, endedAt: number): Promise<boolean> {
    const r = await this.#k.updateTable("pl_runs").set({ ended_at: endedAt }).where("id", "=", id).where("ended_at", "is", null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async getSteps(runId: string): Promise<StepRow[]> {
    return (await this.#k.selectFrom("pl_steps").selectAll().where("run_id", "=", runId).orderBy("idx").execute()).map(stepOf);
  }

  async getStep(runId: string, name: string): Promise<StepRow | undefined> {
    const r = await this.#k.selectFrom("pl_steps").selectAll().where("run_id", "=", runId).where("name", "=", name).executeTakeFirst();
    return r ? stepOf(r) : undefined;
  }

  async updateStep(runId: string, name: string, patch: StepPatch, when: { status?: StepRow["status"][]; token?: string } = {}): Promise<boolean> {
    const v = stepValues(patch);
    // No status to match: nothing changes (PostgreSQL rejects an empty `in ()`, SQLite accepts it).
    if (when.status?.length === 0) return false;
    if (Object.keys(v).length === 0) return (await this.getStep(runId, name)) !== undefined;
    let q = this.#k.updateTable("pl_steps").set(v).where("run_id", "=", runId).where("name", "=", name);
    if (when.status) q = q.where("status", "in", when.status);
    if (when.token !== undefined) q = q.where("token", "=", when.token);
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async updateStepsWhere(runId: string, status: StepRow["status"][], patch: StepPatch): Promise<number> {
    const v = stepValues(patch);
    if (Object.keys(v).length === 0 || status.length === 0) return 0;
    const r = await this.#k.updateTable("pl_steps").set(v).where("run_id", "=", runId).where("status", "in", status).executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async claimStep(free: StepRow["resources"], now: number, claim: { workerId: string; token: string; leaseUntil: number }): Promise<StepRow | undefined> {
    return this.tx(async (s) => {
      const k = (s as SqlPipelineStore).#k;
      const lock = this.#pg ? sql` for update skip locked` : sql``;
      // The oldest ready step that fits; on PostgreSQL rows another claim holds are skipped, not waited on.
      const found = await sql<{ run_id: string; name: string }>`select run_id, name from pl_steps
        where status = 'ready' and ready_at <= ${now} and cpu <= ${free.cpu} and memory_mb <= ${free.memoryMb} and gpu <= ${free.gpu}
        order by ready_at, run_id, idx limit 1${lock}`.execute(k);
      const row = found.rows[0];
      if (!row) return undefined;
      await k
        .updateTable("pl_steps")
        .set({ status: "running", worker_id: claim.workerId, token: claim.token, lease_until: claim.leaseUntil, claim: sql`claim + 1` })
        .where("run_id", "=", row.run_id)
        .where("name", "=", row.name)
        .where("status", "=", "ready")
        .execute();
      const r = await k.selectFrom("pl_steps").selectAll().where("run_id", "=", row.run_id).where("name", "=", row.name).executeTakeFirst();
      return r ? stepOf(r) : undefined;
    });
  }

  async renewLeases(held: { runId: string; name: string; token: string }[], leaseUntil: number): Promise<Set<string>> {
    const renewed = new Set<string>();
    for (const h of held) {
      const r = await this.#k.updateTable("pl_steps").set({ lease_until: leaseUntil }).where("run_id", "=", h.runId).where("name", "=", h.name).where("token", "=", h.token).where("status", "=", "running").executeTakeFirst();
      if (Number(r.numUpdatedRows) > 0) renewed.add(`${h.runId}/${h.name}`);
    }
    return renewed;
  }

  async expiredLeases(now: number): Promise<StepRow[]> {
    return (await this.#k.selectFrom("pl_steps").selectAll().where("status", "=", "running").where("lease_until", "<", now).execute()).map(stepOf);
  }

  async runningSteps(workerId?: string): Promise<StepRow[]> {
    let q = this.#k.selectFrom("pl_steps").selectAll().where("status", "=", "running");
    if (workerId !== undefined) q = q.where("worker_id", "=", workerId);
    return (await q.execute()).map(stepOf);
  }

  async nextReadyAt(now: number): Promise<number | undefined> {
    const r = await this.#k.selectFrom("pl_steps").select(sql<number>`min(ready_at)`.as("t")).where("status", "=", "ready").where("ready_at", ">", now).executeTakeFirst();
    return num(r?.t);
  }

  async appendLogs(runId: string, lines: NewLogLine[], time: number): Promise<void> {
    if (lines.length === 0) return;
    const rows = lines.map((l) => ({ run_id: runId, step: l.step, attempt: l.attempt, stream: l.stream, text: l.text, time }));
    await this.tx(async (s) => {
      // Sequence numbers are taken under the run's lock, so no line of this run commits after a higher one.
      await s.lockRun(runId);
      const k = (s as SqlPipelineStore).#k;
      // 7 parameters a row keep a chunk well under PostgreSQL's 65,535-parameter limit.
      for (let i = 0; i < rows.length; i += 2000) await k.insertInto("pl_logs").values(rows.slice(i, i + 2000)).execute();
    });
  }

  async readLogs(runId: string, q: { step?: string; after: number; limit: number }): Promise<LogEntry[]> {
    let query = this.#k.selectFrom("pl_logs").selectAll().where("run_id", "=", runId).where("seq", ">", q.after);
    if (q.step !== undefined) query = query.where("step", "=", q.step);
    const rows = await query.orderBy("seq").limit(q.limit).execute();
    return rows.map((r) => ({ seq: Number(r.seq), step: String(r.step), attempt: Number(r.attempt), stream: r.stream as "stdout" | "stderr", text: String(r.text), time: Number(r.time) }));
  }

  async upsertWorker(w: WorkerRow): Promise<void> {
    const row = { id: w.id, name: w.name, host: w.host ?? null, resources: json(w.resources), lease_ms: w.leaseMs, registered_at: w.registeredAt, last_seen_at: w.lastSeenAt };
    await this.#k
      .insertInto("pl_workers")
      .values(row)
      .onConflict((oc) => oc.column("id").doUpdateSet({ name: row.name, host: row.host, resources: row.resources, lease_ms: row.lease_ms, last_seen_at: row.last_seen_at }))
      .execute();
  }

  async getWorker(id: string): Promise<WorkerRow | undefined> {
    const r = await this.#k.selectFrom("pl_workers").selectAll().where("id", "=", id).executeTakeFirst();
    return r ? workerOf(r) : undefined;
  }

  async listWorkers(): Promise<WorkerRow[]> {
    return (await this.#k.selectFrom("pl_workers").selectAll().orderBy("registered_at").execute()).map(workerOf);
  }

  async touchWorker(id: string, now: number): Promise<void> {
    await this.#k.updateTable("pl_workers").set({ last_seen_at: now }).where("id", "=", id).execute();
  }

  async getCache(key: string): Promise<CacheRow | undefined> {
    const r = await this.#k.selectFrom("pl_cache").selectAll().where("key", "=", key).executeTakeFirst();
    if (!r) return undefined;
    return { key: String(r.key), pipeline: String(r.pipeline), step: String(r.step), dataset: String(r.dataset), version: String(r.version), digests: parse(r.digests), runId: String(r.run_id), createdAt: Number(r.created_at) };
  }

  async putCache(e: CacheRow): Promise<void> {
    await this.#k
      .insertInto("pl_cache")
      .values({ key: e.key, pipeline: e.pipeline, step: e.step, dataset: e.dataset, version: e.version, digests: json(e.digests), run_id: e.runId, created_at: e.createdAt })
      .onConflict((oc) => oc.column("key").doNothing())
      .execute();
  }

  async insertSchedule(s: ScheduleRow): Promise<void> {
    await this.#k
      .insertInto("pl_schedules")
      .values({
        id: s.id,
        pipeline: s.pipeline,
        cron: s.cron ?? null,
        timezone: s.timezone,
        on_dataset: s.onDataset ?? null,
        params: json(s.params),
        enabled: s.enabled ? 1 : 0,
        created_at: s.createdAt,
        next_run_at: s.nextRunAt ?? null,
        last_run_at: s.lastRunAt ?? null,
        last_run_id: s.lastRunId ?? null,
        last_dataset_version: s.lastDatasetVersion ?? null,
      })
      .execute();
  }

  async getSchedule(id: string): Promise<ScheduleRow | undefined> {
    const r = await this.#k.selectFrom("pl_schedules").selectAll().where("id", "=", id).executeTakeFirst();
    return r ? scheduleOf(r) : undefined;
  }

  async listSchedules(pipeline?: string): Promise<ScheduleRow[]> {
    let q = this.#k.selectFrom("pl_schedules").selectAll();
    if (pipeline !== undefined) q = q.where("pipeline", "=", pipeline);
    return (await q.orderBy("created_at").orderBy("id").execute()).map(scheduleOf);
  }

  async updateSchedule(id: string, patch: SchedulePatch, when: { nextRunAt?: number | null; lastDatasetVersion?: string | null } = {}): Promise<boolean> {
    const v: Row = {};
    for (const [k, val] of Object.entries(patch)) {
      if (val === undefined) continue;
      const col = SCHEDULE_COLUMNS[k as keyof SchedulePatch];
      v[col] = val === null ? null : k === "params" ? json(val) : k === "enabled" ? (val ? 1 : 0) : val;
    }
    if (Object.keys(v).length === 0) return (await this.getSchedule(id)) !== undefined;
    let q = this.#k.updateTable("pl_schedules").set(v).where("id", "=", id);
    // Compare-and-set: of several servers firing the same due schedule, only one moves it on.
    if (when.nextRunAt !== undefined) q = when.nextRunAt === null ? q.where("next_run_at", "is", null) : q.where("next_run_at", "=", when.nextRunAt);
    if (when.lastDatasetVersion !== undefined) q = when.lastDatasetVersion === null ? q.where("last_dataset_version", "is", null) : q.where("last_dataset_version", "=", when.lastDatasetVersion);
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteSchedule(id: string): Promise<boolean> {
    const r = await this.#k.deleteFrom("pl_schedules").where("id", "=", id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async close(): Promise<void> {}
}

/** Opens the pipeline store on a database, applying its migrations. */
export async function createPipelineStore(db: Database): Promise<SqlPipelineStore> {
  await migrate(db, pipelineMigrations);
  return new SqlPipelineStore(db.kysely, db.kind === "postgres");
}
