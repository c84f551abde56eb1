import { CairnError, isCairnError, type AlertEvent, type Monitor, type PerformanceResponse } from "@cairn/contract";
import type { z } from "zod";
import type * as C from "@cairn/contract";
import type { Logger } from "pino";
import type { InferenceLogStore } from "../serving/store/inference-log-store.js";
import { advanceRule, INITIAL_RULE_STATE, type RuleState } from "./alert-rules.js";
import type { DriftService } from "./drift-service.js";
import type { MonitorRow, MonitorStore } from "./store/monitor-store.js";
import { deliverWebhook, type WebhookAllowList } from "./webhook.js";

type Spec = z.output<typeof C.MonitorSpec>;
type Point = { series: string; value: number | null };

export interface MonitorServiceOptions {
  store: MonitorStore;
  drift: Pick<DriftService, "deploymentDrift" | "predictionStats">;
  performance: (deployment: string, q: z.output<typeof C.PerformanceQuery>) => Promise<PerformanceResponse>;
  log: Pick<InferenceLogStore, "summary">;
  /** A deployment's model, undefined when there is no such deployment. */
  deployment(name: string): Promise<{ model: string } | undefined>;
  /** Starts a pipeline run (an alert's retraining action); returns the run's id. */
  startPipeline(name: string, params: Record<string, string | number | boolean>, detail: string): Promise<string>;
  webhooks: WebhookAllowList;
  /**
   * The project of a deployment and of a pipeline (undefined when missing). An alert's pipeline must
   * live in its deployment's project: the run starts as the monitor, not as whoever wrote the rule.
   */
  projects: { deployment(name: string): Promise<string | undefined>; pipeline(name: string): Promise<string | undefined> };
  logger: Logger;
  /** How often due monitors are looked for (default 5 s). */
  tickMs?: number;
  now?: () => number;
}

/**
 * Monitors: on a schedule, each looks at the last window of a deployment's traffic and stores points
 * (traffic, latency, errors; drift against its reference, per column and as the share of drifted
 * columns; realized performance from labels, and its label-free estimates), then advances its alert rules on them. A rule that
 * fires runs its actions (webhook to an allow-listed host, or a pipeline run for retraining) after its
 * event is recorded, and the event keeps what each action did. Several servers can share a database:
 * each window is claimed by compare-and-set, so one of them runs it.
 */
export class MonitorService {
  readonly #o: MonitorServiceOptions;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;

  constructor(o: MonitorServiceOptions) {
    this.#o = o;
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  start(): void {
    this.#timer = setInterval(() => void this.tick(), this.#o.tickMs ?? 5000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#ticking;
  }

  /** Runs every due monitor once. Never throws (a failing monitor is logged and runs again at its next time). */
  tick(): Promise<void> {
    this.#ticking ??= (async () => {
      try {
        for (const m of await this.#o.store.claimDue(this.#now())) {
          await this.#run(m).catch((e: unknown) => this.#o.logger.warn({ deployment: m.deployment, monitor: m.name, err: e instanceof Error ? e.message : String(e) }, "monitor run failed"));
        }
      } catch (e) {
        this.#o.logger.warn({ err: e instanceof Error ? e.message : String(e) }, "monitors tick failed");
      }
    })().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  /**
   * Creates or replaces a monitor; its first window runs one interval from now.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (deployment, an action's pipeline), PERMISSION_DENIED (a webhook host not on the allow-list; a pipeline of another project), INVALID_PARAMETER_VALUE (a bad webhook URL, duplicate rule names)
   */
  async create(deployment: string, spec: Spec, actor: string): Promise<Monitor> {
    if (!(await this.#o.deployment(deployment))) throw notFound(deployment);
    const names = new Set<string>();
    for (const r of spec.rules) {
      if (names.has(r.name)) throw new CairnError("INVALID_PARAMETER_VALUE", `rules: '${r.name}' appears more than once`);
      names.add(r.name);
      for (const a of r.actions) {
        if (a.type === "webhook") this.#o.webhooks.check(a.url);
        else {
          const [pp, dp] = await Promise.all([this.#o.projects.pipeline(a.pipeline), this.#o.projects.deployment(deployment)]);
          if (pp === undefined) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `rules: '${r.name}' starts pipeline '${a.pipeline}', which does not exist`);
          if (pp !== dp) throw new CairnError("PERMISSION_DENIED", `rules: '${r.name}' starts pipeline '${a.pipeline}' of project '${pp}'; an alert may start only pipelines of its deployment's project ('${dp}')`);
        }
      }
    }
    const now = this.#now();
    await this.#o.store.put({ deployment, name: spec.name, spec, createdAt: now, createdBy: actor, lastRunAt: null, nextRunAt: now + spec.intervalSeconds * 1000 });
    return this.#view((await this.#o.store.get(deployment, spec.name))!);
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST (deployment) */
  async list(deployment: string): Promise<Monitor[]> {
    if (!(await this.#o.deployment(deployment))) throw notFound(deployment);
    return Promise.all((await this.#o.store.list(deployment)).map((m) => this.#view(m)));
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST (monitor) */
  async delete(deployment: string, name: string): Promise<void> {
    if (!(await this.#o.store.delete(deployment, name))) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Deployment '${deployment}' has no monitor '${name}'`);
  }

  /** Runs a monitor's window now. @throws CairnError RESOURCE_DOES_NOT_EXIST (monitor) */
  async runNow(deployment: string, name: string): Promise<{ time: number; points: { time: number; series: string; value: number | null }[]; events: AlertEvent[] }> {
    const m = await this.#o.store.get(deployment, name);
    if (!m) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Deployment '${deployment}' has no monitor '${name}'`);
    return this.#run(m);
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST (monitor) */
  async series(deployment: string, name: string, q: z.output<typeof C.MonitorSeriesQuery>): Promise<{ points: { time: number; series: string; value: number | null }[] }> {
    if (!(await this.#o.store.get(deployment, name))) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Deployment '${deployment}' has no monitor '${name}'`);
    return { points: await this.#o.store.points(deployment, name, { ...q, limit: q.limit ?? 10_000 }) };
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST (deployment) */
  async events(deployment: string, q: z.output<typeof C.AlertEventsQuery>): Promise<{ events: AlertEvent[] }> {
    if (!(await this.#o.deployment(deployment))) throw notFound(deployment);
    return { events: await this.#o.store.events(deployment, { ...q, limit: q.limit ?? 100 }) };
  }

  async #view(m: MonitorRow): Promise<Monitor> {
    const states = await this.#o.store.ruleStates(m.deployment, m.name);
    const spec = m.spec;
    return { deployment: m.deployment, spec: m.spec, createdAt: m.createdAt, createdBy: m.createdBy, lastRunAt: m.lastRunAt, nextRunAt: m.nextRunAt, alerts: spec.rules.map((r) => ({ rule: r.name, ...(states[r.name] ?? INITIAL_RULE_STATE) })) };
  }

  /** One window: points, rules, events, then the fired events' actions. */
  async #run(m: MonitorRow): Promise<{ time: number; points: { time: number; series: string; value: number | null }[]; events: AlertEvent[] }> {
    const dep = await this.#o.deployment(m.deployment);
    if (!dep) throw notFound(m.deployment);
    const spec = m.spec;
    const to = this.#now();
    const from = to - spec.windowSeconds * 1000;
    const points: Point[] = [];

    for (const s of await this.#o.log.summary({ model: dep.model, deployment: m.deployment, from, to })) {
      points.push({ series: `traffic.${s.arm}.requests`, value: s.requests }, { series: `traffic.${s.arm}.error_rate`, value: s.requests ? s.errors / s.requests : null }, { series: `latency.${s.arm}.mean_ms`, value: s.meanLatencyMs });
    }
    for (const p of await this.#o.drift.predictionStats(m.deployment, { from, to })) {
      for (const k of ["mean", "p10", "p50", "p90"] as const) points.push({ series: `prediction.${p.arm}.${p.output}.${k}`, value: p[k] });
    }
    if (spec.reference) {
      const report = await this.#o.drift.deploymentDrift(m.deployment, { reference: spec.reference, current: { from, to }, ...(spec.columns ? { columns: spec.columns } : {}), ...(spec.columnNames ? { columnNames: spec.columnNames } : {}) });
      points.push({ series: "drift.share", value: report.dataset.noData ? null : report.dataset.share });
      for (const c of report.columns) {
        points.push({ series: `drift.${c.column}`, value: c.noData ? null : (c.statistic ?? null) });
        if (c.pValue !== undefined) points.push({ series: `drift.${c.column}.p_value`, value: c.pValue });
      }
    }
    if (spec.performance) {
      // Label-free estimates are calibrated on the reference window's labels when the monitor has one
      // (so a window is judged before its own labels arrive), else on the window's own labelled predictions.
      const calibration = spec.reference && "window" in spec.reference ? { referenceFrom: spec.reference.window.from, referenceTo: spec.reference.window.to } : {};
      const perf = await this.#o.performance(m.deployment, { from, to, task: spec.performance.task, threshold: spec.performance.threshold ?? 0.5, ...calibration, ...(spec.performance.output ? { output: spec.performance.output } : {}), ...(spec.performance.positive !== undefined ? { positive: String(spec.performance.positive) } : {}) });
      // Per arm: the version with the most labelled predictions in the window (one during a rollout).
      const best = new Map<string, { n: number; metrics: Record<string, unknown> }>();
      for (const s of perf.series) {
        const w = s.windows[0];
        if (!w || w.n === 0) continue;
        const cur = best.get(s.arm);
        if (!cur || w.n > cur.n) best.set(s.arm, { n: w.n, metrics: { ...(w.classification ?? w.regression ?? {}) } as Record<string, unknown> });
      }
      for (const [arm, { n, metrics }] of best) {
        points.push({ series: `performance.${arm}.n`, value: n });
        for (const [k, v] of Object.entries(metrics)) if (typeof v === "number" || v === null) points.push({ series: `performance.${arm}.${k}`, value: v });
      }
      // Label-free estimates per arm: the version with the most scored predictions in the window.
      const estimated = new Map<string, NonNullable<PerformanceResponse["series"][number]["windows"][number]["estimated"]>>();
      for (const s of perf.series) {
        const e = s.windows[0]?.estimated;
        if (!e || e.n === 0) continue;
        const cur = estimated.get(s.arm);
        if (!cur || e.n > cur.n) estimated.set(s.arm, e);
      }
      for (const [arm, e] of estimated) {
        points.push({ series: `estimated.${arm}.n`, value: e.n });
        for (const k of ["accuracy", "precision", "recall", "f1", "rocAuc"] as const) points.push({ series: `estimated.${arm}.${k}`, value: e[k] });
      }
    }

    const byName = new Map(points.map((p) => [p.series, p.value]));
    const states = await this.#o.store.ruleStates(m.deployment, m.name);
    const next: Record<string, RuleState> = {};
    const events: Omit<AlertEvent, "seq">[] = [];
    for (const rule of spec.rules) {
      const r = advanceRule(rule, states[rule.name] ?? INITIAL_RULE_STATE, to, byName.get(rule.series) ?? null);
      next[rule.name] = r.state;
      if (r.event) events.push({ deployment: m.deployment, monitor: m.name, rule: rule.name, kind: r.event.kind, time: r.event.time, value: r.event.value, actions: [] });
    }
    const recorded = await this.#o.store.recordRun(m.deployment, m.name, to, points, next, events);
    for (const e of recorded) {
      if (e.kind !== "fired") continue;
      const rule = spec.rules.find((r) => r.name === e.rule)!;
      e.actions = await Promise.all(rule.actions.map((a) => this.#act(a, e)));
      if (e.actions.length) await this.#o.store.setEventActions(e.seq, e.actions);
    }
    return { time: to, points: points.map((p) => ({ time: to, ...p })), events: recorded };
  }

  async #act(a: Spec["rules"][number]["actions"][number], e: AlertEvent): Promise<AlertEvent["actions"][number]> {
    const payload = { deployment: e.deployment, monitor: e.monitor, rule: e.rule, kind: e.kind, time: e.time, value: e.value };
    if (a.type === "webhook") {
      const r = await deliverWebhook(a.url, payload, { allowList: this.#o.webhooks });
      return { type: "webhook", ok: r.ok, detail: r.ok ? `${a.url} answered ${r.status}` : `${a.url}: ${r.error ?? "failed"} after ${r.attempts} attempt(s)` };
    }
    try {
      const run = await this.#o.startPipeline(a.pipeline, a.params ?? {}, `alert ${e.monitor}/${e.rule} on ${e.deployment} (value ${e.value})`);
      return { type: "pipeline", ok: true, detail: `started run ${run} of pipeline '${a.pipeline}'` };
    } catch (err) {
      return { type: "pipeline", ok: false, detail: `pipeline '${a.pipeline}': ${isCairnError(err) ? err.message : String(err)}` };
    }
  }
}

function notFound(name: string): CairnError {
  return new CairnError("RESOURCE_DOES_NOT_EXIST", `Deployment '${name}' not found`);
}
