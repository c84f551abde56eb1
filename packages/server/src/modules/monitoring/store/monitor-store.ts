import type { AlertEvent, MonitorSpec as MonitorSpecSchema } from "@cairn/contract";
import type { z } from "zod";
import type { Kysely } from "kysely";
import { migrate, type Database } from "../../../platform/db/database.js";
import type { RuleState } from "../alert-rules.js";
import { monitoringMigrations } from "./migrations.js";

/** A monitor as stored. */
export interface MonitorRow {
  deployment: string;
  name: string;
  spec: z.output<typeof MonitorSpecSchema>;
  createdAt: number;
  createdBy: string;
  lastRunAt: number | null;
  nextRunAt: number;
}

/** Monitors, their points, rule states and alert events. */
export interface MonitorStore {
  /** Creates or replaces a monitor (its points and events are kept; rule states of rules it no longer has are dropped). */
  put(row: MonitorRow): Promise<void>;
  get(deployment: string, name: string): Promise<MonitorRow | undefined>;
  list(deployment?: string): Promise<MonitorRow[]>;
  /** Deletes a monitor with its points, rule states and events; false when there was none. */
  delete(deployment: string, name: string): Promise<boolean>;
  /** Monitors due at `now`, each claimed by moving its `next_run_at` forward (compare-and-set: one server gets each). */
  claimDue(now: number): Promise<MonitorRow[]>;
  /** Records a window's points and rule states and appends its events, in one transaction; returns the events with their sequence numbers. */
  recordRun(deployment: string, monitor: string, time: number, points: { series: string; value: number | null }[], states: Record<string, RuleState>, events: Omit<AlertEvent, "seq">[]): Promise<AlertEvent[]>;
  ruleStates(deployment: string, monitor: string): Promise<Record<string, RuleState>>;
  /** Sets what the actions of an event did (they run after the event is recorded). */
  setEventActions(seq: number, actions: AlertEvent["actions"]): Promise<void>;
  /** Points oldest first; with `latest`, the newest `limit` of them. */
  points(deployment: string, monitor: string, q: { series?: string; from?: number; to?: number; limit: number; latest?: boolean }): Promise<{ time: number; series: string; value: number | null }[]>;
  events(deployment: string, q: { monitor?: string; before?: number; limit: number }): Promise<AlertEvent[]>;
}

/** Monitors over SQLite or PostgreSQL. */
export class SqlMonitorStore implements MonitorStore {
  constructor(private readonly k: Kysely<any>) {}

  async put(row: MonitorRow): Promise<void> {
    const values = { deployment: row.deployment, name: row.name, spec: JSON.stringify(row.spec), created_at: row.createdAt, created_by: row.createdBy, last_run_at: row.lastRunAt, next_run_at: row.nextRunAt };
    await this.k.transaction().execute(async (trx) => {
      await trx
        .insertInto("monitoring_monitors")
        .values(values)
        .onConflict((oc) => oc.columns(["deployment", "name"]).doUpdateSet({ spec: values.spec, created_by: values.created_by, next_run_at: values.next_run_at }))
        .execute();
      const rules = (row.spec.rules ?? []).map((r) => r.name);
      let del = trx.deleteFrom("monitoring_rule_states").where("deployment", "=", row.deployment).where("monitor", "=", row.name);
      if (rules.length > 0) del = del.where("rule", "not in", rules);
      await del.execute();
    });
  }

  async get(deployment: string, name: string): Promise<MonitorRow | undefined> {
    const r = await this.k.selectFrom("monitoring_monitors").selectAll().where("deployment", "=", deployment).where("name", "=", name).executeTakeFirst();
    return r ? fromDb(r) : undefined;
  }

  async list(deployment?: string): Promise<MonitorRow[]> {
    let q = this.k.selectFrom("monitoring_monitors").selectAll();
    if (deployment !== undefined) q = q.where("deployment", "=", deployment);
    return (await q.orderBy("deployment").orderBy("name").execute()).map(fromDb);
  }

  async delete(deployment: string, name: string): Promise<boolean> {
    return this.k.transaction().execute(async (trx) => {
      const r = await trx.deleteFrom("monitoring_monitors").where("deployment", "=", deployment).where("name", "=", name).executeTakeFirst();
      for (const t of ["monitoring_points", "monitoring_rule_states", "monitoring_alert_events"]) await trx.deleteFrom(t).where("deployment", "=", deployment).where("monitor", "=", name).execute();
      return Number(r.numDeletedRows) > 0;
    });
  }

  async claimDue(now: number): Promise<MonitorRow[]> {
    const due = (await this.k.selectFrom("monitoring_monitors").selectAll().where("next_run_at", "<=", now).execute()).map(fromDb);
    const claimed: MonitorRow[] = [];
    for (const m of due) {
      const interval = (m.spec.intervalSeconds ?? 300) * 1000;
      const r = await this.k
        .updateTable("monitoring_monitors")
        .set({ next_run_at: now + interval })
        .where("deployment", "=", m.deployment)
        .where("name", "=", m.name)
        .where("next_run_at", "=", m.nextRunAt)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) claimed.push({ ...m, nextRunAt: now + interval });
    }
    return claimed;
  }

  async recordRun(deployment: string, monitor: string, time: number, points: { series: string; value: number | null }[], states: Record<string, RuleState>, events: Omit<AlertEvent, "seq">[]): Promise<AlertEvent[]> {
    return this.k.transaction().execute(async (trx) => {
      await trx.deleteFrom("monitoring_points").where("deployment", "=", deployment).where("monitor", "=", monitor).where("time", "=", time).execute();
      for (let i = 0; i < points.length; i += 500) {
        const chunk = points.slice(i, i + 500).map((p) => ({ deployment, monitor, time, series: p.series, value: p.value }));
        if (chunk.length) await trx.insertInto("monitoring_points").values(chunk).execute();
      }
      for (const [rule, state] of Object.entries(states)) {
        await trx
          .insertInto("monitoring_rule_states")
          .values({ deployment, monitor, rule, state: JSON.stringify(state) })
          .onConflict((oc) => oc.columns(["deployment", "monitor", "rule"]).doUpdateSet({ state: JSON.stringify(state) }))
          .execute();
      }
      await trx.updateTable("monitoring_monitors").set({ last_run_at: time }).where("deployment", "=", deployment).where("name", "=", monitor).execute();
      const out: AlertEvent[] = [];
      for (const e of events) {
        const r = await trx
          .insertInto("monitoring_alert_events")
          .values({ deployment, monitor, rule: e.rule, kind: e.kind, time: e.time, value: e.value, actions: JSON.stringify(e.actions) })
          .returning("seq")
          .executeTakeFirstOrThrow();
        out.push({ ...e, seq: Number(r.seq) });
      }
      return out;
    });
  }

  async ruleStates(deployment: string, monitor: string): Promise<Record<string, RuleState>> {
    const rows = await this.k.selectFrom("monitoring_rule_states").selectAll().where("deployment", "=", deployment).where("monitor", "=", monitor).execute();
    return Object.fromEntries(rows.map((r) => [String(r.rule), JSON.parse(String(r.state)) as RuleState]));
  }

  async setEventActions(seq: number, actions: AlertEvent["actions"]): Promise<void> {
    await this.k.updateTable("monitoring_alert_events").set({ actions: JSON.stringify(actions) }).where("seq", "=", seq).execute();
  }

  async points(deployment: string, monitor: string, q: { series?: string; from?: number; to?: number; limit: number; latest?: boolean }): Promise<{ time: number; series: string; value: number | null }[]> {
    let query = this.k.selectFrom("monitoring_points").select(["time", "series", "value"]).where("deployment", "=", deployment).where("monitor", "=", monitor);
    if (q.series !== undefined) query = query.where("series", "=", q.series);
    if (q.from !== undefined) query = query.where("time", ">=", q.from);
    if (q.to !== undefined) query = query.where("time", "<", q.to);
    const dir = q.latest ? "desc" : "asc";
    const rows = (await query.orderBy("time", dir).orderBy("series", dir).limit(q.limit).execute()).map((r) => ({ time: Number(r.time), series: String(r.series), value: r.value === null ? null : Number(r.value) }));
    return q.latest ? rows.reverse() : rows;
  }

  async events(deployment: string, q: { monitor?: string; before?: number; limit: number }): Promise<AlertEvent[]> {
    let query = this.k.selectFrom("monitoring_alert_events").selectAll().where("deployment", "=", deployment);
    if (q.monitor !== undefined) query = query.where("monitor", "=", q.monitor);
    if (q.before !== undefined) query = query.where("seq", "<", q.before);
    return (await query.orderBy("seq", "desc").limit(q.limit).execute()).map((r) => ({
      seq: Number(r.seq),
      deployment: String(r.deployment),
      monitor: String(r.monitor),
      rule: String(r.rule),
      kind: String(r.kind) as AlertEvent["kind"],
      time: Number(r.time),
      value: Number(r.value),
      actions: JSON.parse(String(r.actions)) as AlertEvent["actions"],
    }));
  }
}

function fromDb(r: Record<string, unknown>): MonitorRow {
  return {
    deployment: String(r.deployment),
    name: String(r.name),
    spec: JSON.parse(String(r.spec)) as MonitorRow["spec"],
    createdAt: Number(r.created_at),
    createdBy: String(r.created_by),
    lastRunAt: r.last_run_at === null || r.last_run_at === undefined ? null : Number(r.last_run_at),
    nextRunAt: Number(r.next_run_at),
  };
}

/** Opens the monitor store, applying the monitoring migrations. */
export async function createMonitorStore(db: Database): Promise<SqlMonitorStore> {
  await migrate(db, monitoringMigrations);
  return new SqlMonitorStore(db.kysely);
}
