import type { Cairn } from "@cairn/sdk";
import type { PipelineSpec, StepRunStatus } from "@cairn/contract";
import type { ExecutorEvent, PipelineResult } from "./local-executor.js";
import type { Pipeline } from "./types.js";

const FLUSH_MS = 250;
const BATCH = 2000;
const LINE_MAX = 16_000;

/**
 * Reports a `cairn run` executing on this machine to the server's pipeline runs (id = its tracking
 * run), so the web UI shows the live DAG and `cairn logs -f` follows it: step states as they
 * change and log lines in batches. Reporting never slows or fails the run: errors become one
 * warning and reporting stops.
 */
export class LocalRunReporter {
  readonly #cairn: Cairn;
  readonly #runId: string;
  readonly #warn: (m: string) => void;
  readonly #stepRunId: (step: string) => Promise<string | undefined>;
  #off = false;
  #chain: Promise<void> = Promise.resolve();
  readonly #lines: { step: string; attempt: number; stream: "stdout" | "stderr"; text: string }[] = [];
  readonly #partial = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: { cairn: Cairn; runId: string; stepRunId: (step: string) => Promise<string | undefined>; warn?: (m: string) => void }) {
    this.#cairn = opts.cairn;
    this.#runId = opts.runId;
    this.#stepRunId = opts.stepRunId;
    this.#warn = opts.warn ?? ((m) => process.stderr.write(`warning: ${m}\n`));
  }

  /** Registers the run with its steps (all waiting). */
  async start(pipeline: Pipeline): Promise<void> {
    const spec: PipelineSpec = { name: pipeline.name, params: pipeline.params, steps: pipeline.steps };
    this.#queue(() => this.#cairn.client.api.reportLocalRun({ params: { id: this.#runId }, body: { spec, params: pipeline.params, trigger: { kind: "local" } } }));
    await this.#chain;
    this.#timer = setInterval(() => this.#flush(), FLUSH_MS);
    this.#timer.unref();
  }

  #queue(fn: () => Promise<unknown>): void {
    this.#chain = this.#chain.then(async () => {
      if (this.#off) return;
      try {
        await fn();
      } catch (e) {
        this.#off = true;
        this.#warn(`live run reporting stopped (the UI and cairn logs will not follow this run): ${e instanceof Error ? e.message : String(e)}`);
      }
    });
  }

  #flush(): void {
    if (this.#lines.length === 0) return;
    const lines = this.#lines.splice(0, this.#lines.length);
    for (let i = 0; i < lines.length; i += BATCH) {
      const batch = lines.slice(i, i + BATCH);
      this.#queue(() => this.#cairn.client.api.appendLocalLogs({ params: { id: this.#runId }, body: { lines: batch } }));
    }
  }

  #step(step: string, status: StepRunStatus, extra: Record<string, unknown> = {}): void {
    this.#queue(async () => {
      const runId = await this.#stepRunId(step);
      await this.#cairn.client.api.reportLocalStep({ params: { id: this.#runId }, body: { step, status, ...(runId ? { runId } : {}), ...extra } });
    });
  }

  /** Feed every executor event here. */
  onEvent(e: ExecutorEvent): void {
    if (this.#off) return;
    switch (e.type) {
      case "log": {
        const key = `${e.step}\0${e.stream}`;
        const parts = ((this.#partial.get(key) ?? "") + e.text).split("\n");
        // A line without an end is kept only up to the line limit (a process printing without newlines).
        this.#partial.set(key, (parts.pop() ?? "").slice(0, LINE_MAX));
        for (const text of parts) this.#lines.push({ step: e.step, attempt: e.attempt, stream: e.stream, text: text.slice(0, LINE_MAX) });
        break;
      }
      case "step-cache":
        if (e.explain) this.#step(e.step, "waiting", { cacheReason: e.explain.slice(0, 60_000) });
        break;
      case "step-started":
        this.#flush();
        this.#step(e.step, "running", { attempts: e.attempt, gpus: e.gpus, startedAt: e.time });
        break;
      case "step-finished":
        this.#flush();
        this.#step(e.step, e.status, { attempts: e.attempts, durationMs: e.durationMs, endedAt: e.time, ...(e.error ? { error: e.error.slice(0, 60_000) } : {}) });
        break;
      default:
        break;
    }
  }

  /** Sends what is left (last log lines, each step's log tail) and the run's end. */
  async finish(result: PipelineResult): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    for (const [key, text] of this.#partial) {
      if (!text) continue;
      const [step, stream] = key.split("\0") as [string, "stdout" | "stderr"];
      this.#lines.push({ step, attempt: Math.max(1, result.steps[step]?.attempts ?? 1), stream, text: text.slice(0, LINE_MAX) });
    }
    this.#partial.clear();
    this.#flush();
    for (const r of Object.values(result.steps)) {
      if (r.logTail) this.#step(r.name, r.status, { logTail: r.logTail.slice(-60_000) });
    }
    this.#queue(() => this.#cairn.client.api.finishLocalRun({ params: { id: this.#runId }, body: { status: result.status } }));
    await this.#chain;
  }
}
