/**
 * Drives the pipelines pages of the built web UI in headless Chromium against a real server:
 * pipelines list (pushed and local-only pipelines, last run, run and schedule counts, sweeps) →
 * runs table (filters, step-count bars) → a finished local run's DAG (cached, succeeded with a
 * retry, failed with a log tail, skipped; the step panel; the logs pane) → a running local run that
 * changes while the page is open (node color and a new log line, without reload) → a sweep's
 * parallel coordinates and trials table → schedules (toggle enabled) and workers.
 * Test data goes in through the HTTP API: tracking runs first (a pipeline run's id is its tracking
 * run), then `PUT /api/v1/pipeline-runs/:id/local` and its steps/logs/finish reports, as `cairn run`
 * does. Skips with a printed reason when Chromium is missing, unless CAIRN_REQUIRE_SERVICES=1.
 * Screenshots land in /tmp/cairn-ui-pipelines*.png.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { chromiumAvailable, ensureUiBuilt, launchChromium, SHOTS, WEB_DIST, openPage } from "./browser.js";
import { ApiClient } from "@cairn/sdk/core";
import type { PipelineSpec, StepSpec } from "@cairn/contract";
import { startServer } from "../packages/server/src/server.js";

const hasChromium = chromiumAvailable("pipelines UI e2e test");

/** A resolved step as `cairn.yaml` resolves it, depending on the outputs of `after`. */
function step(name: string, after: string[], extra: Partial<StepSpec> = {}): StepSpec {
  return {
    name,
    cmd: `python ${name}.py`,
    deps: after.map((a) => ({ kind: "step" as const, step: a, path: `out/${a}` })),
    outs: [{ path: `out/${name}` }],
    params: [],
    env: {},
    resources: { cpu: 1, memoryMb: 512, gpu: 0 },
    retries: 0,
    retryDelayMs: 0,
    cache: true,
    ...extra,
  };
}

describe.skipIf(!hasChromium)("pipelines web UI (e2e, headless Chromium)", () => {
  let server: { url: string; close(): Promise<void> };
  let dataDir: string;
  let browser: Browser;
  let page: Page;
  let api: ApiClient["api"];
  const pageErrors: string[] = [];
  const PIPELINE = "credit-train";
  const LIVE_PIPELINE = "feature-refresh";
  const PUSHED = "nightly-report";
  const SOURCE_DATASET = "pipeline-src.nightly-report";
  let experimentId = "";
  let doneRunId = "";
  let liveRunId = "";
  let sweepId = "";
  let cancelRunId = "";
  const stepRuns: Record<string, string> = {};
  const trialRuns: { id: string; trial: number; loss: number }[] = [];

  /** A tracking run in the test experiment (a pipeline run's or a step's). */
  const pipelineExperiments = new Map<string, string>();
  /** A tracking run: a pipeline's runs go in its experiment (`pipeline:<name>`), as `cairn run` records them; others in the test experiment. */
  async function trackingRun(runName: string, tags: Record<string, string> = {}): Promise<string> {
    let exp = experimentId;
    const pipeline = tags["cairn.pipeline"];
    if (pipeline) {
      if (!pipelineExperiments.has(pipeline)) pipelineExperiments.set(pipeline, (await api.createExperiment({ body: { name: `pipeline:${pipeline}` } })).experiment.experimentId);
      exp = pipelineExperiments.get(pipeline)!;
    }
    const r = await api.createRun({ body: { experimentId: exp, runName, startTime: Date.now() - 120_000, tags } });
    return r.run.info.runId;
  }

  beforeAll(async () => {
    ensureUiBuilt();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-ui-pipelines-e2e-"));
    server = await startServer({ port: 0, dataDir, webDir: WEB_DIST, logLevel: "silent" });
    api = new ApiClient({ url: server.url }).api;
    experimentId = (await api.createExperiment({ body: { name: `pipelines-ui-${Date.now()}` } })).experiment.experimentId;

    // A finished local run: prepare (cached) → train (succeeded on its 2nd of 3 attempts) → evaluate (failed) → publish (skipped).
    doneRunId = await trackingRun("credit-train run", { "cairn.pipeline": PIPELINE });
    for (const s of ["prepare", "train", "evaluate"]) stepRuns[s] = await trackingRun(s, { "mlflow.parentRunId": doneRunId, "cairn.pipeline": PIPELINE, "cairn.step": s });
    const spec: PipelineSpec = {
      name: PIPELINE,
      params: { lr: 0.01, epochs: 5 },
      steps: [step("prepare", []), step("train", ["prepare"], { retries: 2, resources: { cpu: 4, memoryMb: 8192, gpu: 1 } }), step("evaluate", ["train"]), step("publish", ["evaluate"], { cache: false })],
    };
    await api.reportLocalRun({ params: { id: doneRunId }, body: { spec, params: spec.params, trigger: { kind: "local", detail: "laptop" } } });
    const t0 = Date.now() - 60_000;
    await api.reportLocalStep({ params: { id: doneRunId }, body: { step: "prepare", status: "cached", attempts: 0, runId: stepRuns.prepare!, durationMs: 40, cacheKey: "a".repeat(64), cacheReason: "inputs unchanged since run 1f2e", outputs: { "out/prepare": "sha256:" + "b".repeat(64) } } });
    await api.reportLocalStep({ params: { id: doneRunId }, body: { step: "train", status: "succeeded", attempts: 2, runId: stepRuns.train!, gpus: [0], startedAt: t0, endedAt: t0 + 42_000, durationMs: 42_000, outputs: { "out/train": "sha256:" + "c".repeat(64) } } });
    await api.reportLocalStep({ params: { id: doneRunId }, body: { step: "evaluate", status: "failed", attempts: 1, runId: stepRuns.evaluate!, startedAt: t0 + 43_000, endedAt: t0 + 45_500, durationMs: 2500, error: "exit code 1", logTail: "Traceback (most recent call last):\nValueError: AUC below threshold 0.7" } });
    await api.reportLocalStep({ params: { id: doneRunId }, body: { step: "publish", status: "skipped" } });
    await api.appendLocalLogs({
      params: { id: doneRunId },
      body: {
        lines: [
          { step: "train", attempt: 1, stream: "stderr", text: "CUDA error: out of memory, retrying" },
          { step: "train", attempt: 2, stream: "stdout", text: "epoch 5/5 loss=0.231" },
          { step: "evaluate", attempt: 1, stream: "stdout", text: "evaluating on 2,000 rows" },
          { step: "evaluate", attempt: 1, stream: "stderr", text: "ValueError: AUC below threshold 0.7" },
        ],
      },
    });
    await api.finishLocalRun({ params: { id: doneRunId }, body: { status: "failed", error: "step evaluate failed" } });

    // A run still going: fetch succeeded, build running.
    liveRunId = await trackingRun("feature-refresh run", { "cairn.pipeline": LIVE_PIPELINE });
    stepRuns.build = await trackingRun("build", { "mlflow.parentRunId": liveRunId, "cairn.pipeline": LIVE_PIPELINE, "cairn.step": "build" });
    const liveSpec: PipelineSpec = { name: LIVE_PIPELINE, params: {}, steps: [step("fetch", []), step("build", ["fetch"])] };
    await api.reportLocalRun({ params: { id: liveRunId }, body: { spec: liveSpec, params: {}, trigger: { kind: "local" } } });
    await api.reportLocalStep({ params: { id: liveRunId }, body: { step: "fetch", status: "succeeded", attempts: 1, durationMs: 1200 } });
    await api.reportLocalStep({ params: { id: liveRunId }, body: { step: "build", status: "running", attempts: 1, runId: stepRuns.build, startedAt: Date.now() } });
    await api.appendLocalLogs({ params: { id: liveRunId }, body: { lines: [{ step: "build", attempt: 1, stream: "stdout", text: "building features 1/2" }] } });

    // A run to cancel from the UI: one step running, one waiting for it.
    cancelRunId = await trackingRun("cancel-me run", { "cairn.pipeline": LIVE_PIPELINE });
    await api.reportLocalRun({ params: { id: cancelRunId }, body: { spec: liveSpec, params: {}, trigger: { kind: "local" } } });
    await api.reportLocalStep({ params: { id: cancelRunId }, body: { step: "fetch", status: "running", attempts: 1, startedAt: Date.now() } });

    // A sweep: its parent run and five trials (lr spans three decades: a log axis).
    sweepId = await trackingRun("lr-depth-sweep", { "cairn.sweep": "parent", "cairn.sweep.objective": "loss", "cairn.sweep.direction": "minimize", "cairn.sweep.method": "random" });
    const trials = [
      { lr: "0.0001", depth: "4", optimizer: "adam", loss: 0.52 },
      { lr: "0.001", depth: "6", optimizer: "adam", loss: 0.31 },
      { lr: "0.01", depth: "8", optimizer: "sgd", loss: 0.27 },
      { lr: "0.1", depth: "2", optimizer: "sgd", loss: 0.88 },
      { lr: "0.003", depth: "5", optimizer: "rmsprop", loss: 0.44 },
    ];
    for (const [i, t] of trials.entries()) {
      const id = await trackingRun(`trial-${i + 1}`, { "mlflow.parentRunId": sweepId, "cairn.sweep": sweepId, "cairn.sweep.trial": String(i + 1), "cairn.sweep.trial_status": t.loss > 0.8 ? "pruned" : "completed" });
      await api.logBatch({
        params: { id },
        body: {
          params: [
            { key: "lr", value: t.lr },
            { key: "depth", value: t.depth },
            { key: "optimizer", value: t.optimizer },
          ],
          metrics: [{ key: "loss", value: t.loss, timestamp: Date.now(), step: 0 }],
        },
      });
      await api.updateRun({ params: { id }, body: { status: "FINISHED", endTime: Date.now() } });
      trialRuns.push({ id, trial: i + 1, loss: t.loss });
    }
    await api.updateRun({ params: { id: sweepId }, body: { status: "FINISHED", endTime: Date.now() } });

    // A pushed pipeline (its source is a dataset version) with a schedule, and a worker.
    await api.createDataset({ body: { name: SOURCE_DATASET } });
    const yaml = Buffer.from("name: nightly-report\nparams:\n  region: us\nsteps:\n  a:\n    cmd: echo hi\n");
    const sha256 = createHash("sha256").update(yaml).digest("hex");
    const up = await fetch(`${server.url}/api/v1/datasets/${SOURCE_DATASET}/blobs/${sha256}`, { method: "PUT", headers: { "content-type": "application/octet-stream" }, body: yaml });
    if (!up.ok) throw new Error(`blob upload: ${up.status} ${await up.text()}`);
    const version = (await api.createVersion({ params: { name: SOURCE_DATASET }, body: { message: "source", files: [{ path: "cairn.yaml", size: yaml.length, mode: 0o644, sha256 }] } })).version;
    await api.pushPipeline({ body: { definition: { name: PUSHED, params: { region: "us" }, steps: { a: { cmd: "echo hi" } } }, source: { dataset: SOURCE_DATASET, version: `v${version.number}` } } });
    await api.createSchedule({ params: { name: PUSHED }, body: { cron: "*/5 * * * *", params: { region: "eu" } } });
    await api.registerWorker({ body: { name: "gpu-box-1", host: "gpu-box-1.lan", resources: { cpu: 16, memoryMb: 65536, gpus: [{ index: 0, name: "NVIDIA H100", memoryMb: 81920 }] } } });

    browser = await launchChromium();
    page = await openPage(browser, pageErrors);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("lists pipelines with last run, run and schedule counts, recent runs and sweeps", async () => {
    await page.goto(`${server.url}/#/pipelines`);
    const row = page.locator(`[data-testid=pipeline-row][data-pipeline=${PIPELINE}]`);
    await row.waitFor();
    expect(await page.locator("[data-testid=nav-pipelines]").getAttribute("class")).toContain("active");
    expect(await row.locator("[data-testid=pipeline-source]").textContent()).toContain("local only");
    expect(await row.locator("[data-testid=pipeline-last-status] [data-status]").getAttribute("data-status")).toBe("failed");
    expect(await row.locator("[data-testid=pipeline-run-count]").textContent()).toBe("1");
    const pushed = page.locator(`[data-testid=pipeline-row][data-pipeline=${PUSHED}]`);
    expect(await pushed.locator("[data-testid=pipeline-source]").textContent()).toContain("pushed");
    await expect.poll(() => pushed.locator("[data-testid=pipeline-schedule-count]").textContent()).toBe("1");

    const recent = page.locator("[data-testid=recent-runs-table] [data-testid=pipeline-run-row]");
    await expect.poll(() => recent.count()).toBe(3);
    const doneRow = page.locator(`[data-testid=recent-runs-table] [data-testid=pipeline-run-row][data-run="${doneRunId}"]`);
    expect(await doneRow.locator("[data-testid=step-counts] [data-status=failed]").getAttribute("data-count")).toBe("1");
    expect(await doneRow.locator("[data-testid=step-counts] [data-status=cached]").getAttribute("data-count")).toBe("1");

    const sweepRow = page.locator(`[data-testid=sweep-row][data-run="${sweepId}"]`);
    await sweepRow.waitFor();
    expect(await page.locator("[data-testid=sweep-row]").count()).toBe(1);
    expect(await sweepRow.textContent()).toContain("loss");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-pipelines.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it("filters the runs table by pipeline and status", async () => {
    await page.goto(`${server.url}/#/pipelines/runs`);
    const rows = page.locator("[data-testid=pipeline-runs-table] [data-testid=pipeline-run-row]");
    await expect.poll(() => rows.count()).toBe(3);
    await page.selectOption("[data-testid=runs-filter-status]", "failed");
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().getAttribute("data-run")).toBe(doneRunId);
    expect(new URLSearchParams(page.url().split("?")[1] ?? "").get("status")).toBe("failed");
    await page.selectOption("[data-testid=runs-filter-status]", "running");
    await expect.poll(() => rows.count()).toBe(2);
    await page.selectOption("[data-testid=runs-filter-status]", "");
    await page.selectOption("[data-testid=runs-filter-pipeline]", PIPELINE);
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().getAttribute("data-run")).toBe(doneRunId);
    await rows.first().locator("td").nth(2).click();
    await page.locator("[data-testid=pipeline-run-page]").waitFor();
    expect(page.url()).toContain(`#/pipelines/runs/${doneRunId}`);
    expect(pageErrors).toEqual([]);
  });

  it("draws a finished run's DAG and shows a step's details and logs", async () => {
    await page.goto(`${server.url}/#/pipelines/runs/${doneRunId}`);
    await page.locator("[data-testid=pipeline-run-page]").waitFor();
    expect(await page.locator("[data-testid=pipeline-run-status]").getAttribute("data-status")).toBe("failed");
    expect(await page.locator("[data-testid=pipeline-run-trigger]").textContent()).toContain("local");
    expect(await page.locator("[data-testid=pipeline-params]").textContent()).toContain("epochs");
    expect(await page.locator("[data-testid=tracking-run-link]").getAttribute("href")).toBe(`#/runs/${doneRunId}`);
    expect(await page.locator("[data-testid=cancel-run]").count()).toBe(0);

    const nodes = page.locator("[data-testid=dag-node]");
    expect(await nodes.count()).toBe(4);
    const statusOf = (s: string) => page.locator(`[data-testid=dag-node][data-step=${s}]`).getAttribute("data-status");
    expect(await statusOf("prepare")).toBe("cached");
    expect(await statusOf("train")).toBe("succeeded");
    expect(await statusOf("evaluate")).toBe("failed");
    expect(await statusOf("publish")).toBe("skipped");
    expect(await page.locator("[data-testid=dag-node][data-step=prepare]").textContent()).toContain("cached");
    expect(await page.locator("[data-testid=dag-node][data-step=train] [data-testid=dag-node-detail]").textContent()).toBe("42.0s · retry 2/3");
    expect(await page.locator("[data-testid=dag-edge]").count()).toBe(3);
    expect(await page.locator("[data-testid=dag-edge][data-from=train][data-to=evaluate]").count()).toBe(1);
    // Layers run left to right along the dependencies.
    const xOf = async (s: string) => Number(await page.locator(`[data-testid=dag-node][data-step=${s}] .pl-node-box`).getAttribute("x"));
    expect(await xOf("prepare")).toBeLessThan(await xOf("train"));
    expect(await xOf("evaluate")).toBeLessThan(await xOf("publish"));
    // Distinct colors by status class.
    const fill = (s: string) => page.locator(`[data-testid=dag-node][data-step=${s}] .pl-node-box`).evaluate((el) => getComputedStyle(el).stroke);
    expect(await fill("evaluate")).not.toBe(await fill("train"));
    expect(await fill("publish")).not.toBe(await fill("evaluate"));

    await page.locator("[data-testid=dag-node][data-step=evaluate]").click();
    const panel = page.locator("[data-testid=step-details]");
    await panel.waitFor();
    expect(await panel.getAttribute("data-step")).toBe("evaluate");
    expect(new URLSearchParams(page.url().split("?")[1] ?? "").get("step")).toBe("evaluate");
    expect(await page.locator("[data-testid=step-error]").textContent()).toContain("exit code 1");
    expect(await page.locator("[data-testid=step-log-tail]").textContent()).toContain("AUC below threshold");
    expect(await page.locator("[data-testid=step-run-link]").getAttribute("href")).toBe(`#/runs/${stepRuns.evaluate}`);
    const lines = page.locator("[data-testid=log-pane] [data-testid=log-line]");
    await expect.poll(() => lines.count()).toBe(2);
    expect(await lines.nth(1).textContent()).toContain("AUC below threshold");
    await expect.poll(() => page.locator("[data-testid=log-pane]").getAttribute("data-following")).toBe("false");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-pipelines-run.png`, fullPage: true });

    await page.locator("[data-testid=dag-node][data-step=prepare]").click();
    await expect.poll(() => panel.getAttribute("data-step")).toBe("prepare");
    expect(await page.locator("[data-testid=step-cache]").textContent()).toContain("hit");
    expect(await page.locator("[data-testid=step-cache-reason]").textContent()).toContain("inputs unchanged");
    await page.locator("[data-testid=dag-node][data-step=train]").click();
    await expect.poll(() => panel.getAttribute("data-step")).toBe("train");
    expect(await page.locator("[data-testid=step-attempts]").textContent()).toBe("2 of 3");
    await expect.poll(() => lines.count()).toBe(2);
    expect(await lines.nth(0).textContent()).toContain("out of memory");

    // The step's tracking run links back to this pipeline run with the step selected.
    await page.goto(`${server.url}/#/runs/${stepRuns.train}`);
    const back = page.locator("[data-testid=run-pipeline-link]");
    await back.waitFor();
    expect(await back.getAttribute("href")).toBe(`#/pipelines/runs/${doneRunId}?step=train`);
    await page.goto(`${server.url}/#/runs/${doneRunId}`);
    await back.waitFor();
    expect(await back.getAttribute("href")).toBe(`#/pipelines/runs/${doneRunId}`);
    expect(pageErrors).toEqual([]);
  });

  it("follows a running run live: node status and new log lines arrive without reload", async () => {
    await page.goto(`${server.url}/#/pipelines/runs/${liveRunId}?step=build`);
    await page.locator("[data-testid=pipeline-run-page]").waitFor();
    const build = page.locator("[data-testid=dag-node][data-step=build]");
    expect(await build.getAttribute("data-status")).toBe("running");
    expect(await page.locator("[data-testid=dag-node][data-step=build] .pl-node-pulse").count()).toBe(1);
    const runningStroke = await build.locator(".pl-node-box").evaluate((el) => getComputedStyle(el).stroke);
    // Cancelling asks first; keeping it running closes the question without a request.
    await page.locator("[data-testid=cancel-run]").click();
    await page.locator("[data-testid=cancel-confirm]").waitFor();
    await page.locator("[data-testid=cancel-confirm] button", { hasText: "Keep running" }).click();
    await page.locator("[data-testid=cancel-run]").waitFor();
    expect((await api.getPipelineRun({ params: { id: liveRunId } })).run.cancelRequested).toBe(false);
    const lines = page.locator("[data-testid=log-pane] [data-testid=log-line]");
    await expect.poll(() => lines.count()).toBe(1);
    expect(await page.locator("[data-testid=log-pane]").getAttribute("data-following")).toBe("true");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-pipelines-live.png`, fullPage: true });
    // Mark the page so a reload would be noticed.
    await page.evaluate(() => ((window as unknown as { __noReload: boolean }).__noReload = true));

    await api.appendLocalLogs({ params: { id: liveRunId }, body: { lines: [{ step: "build", attempt: 1, stream: "stdout", text: "building features 2/2 done" }] } });
    await expect.poll(() => lines.count(), { timeout: 10_000 }).toBe(2);
    expect(await lines.nth(1).textContent()).toContain("building features 2/2 done");

    await api.reportLocalStep({ params: { id: liveRunId }, body: { step: "build", status: "succeeded", attempts: 1, runId: stepRuns.build, durationMs: 3000 } });
    await api.finishLocalRun({ params: { id: liveRunId }, body: { status: "succeeded" } });
    await expect.poll(() => build.getAttribute("data-status"), { timeout: 10_000 }).toBe("succeeded");
    await expect.poll(() => page.locator("[data-testid=pipeline-run-status]").getAttribute("data-status"), { timeout: 10_000 }).toBe("succeeded");
    expect(await build.locator(".pl-node-box").evaluate((el) => getComputedStyle(el).stroke)).not.toBe(runningStroke);
    expect(await page.locator("[data-testid=cancel-run]").count()).toBe(0);
    await expect.poll(() => page.locator("[data-testid=log-pane]").getAttribute("data-following"), { timeout: 15_000 }).toBe("false");
    expect(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
    expect(pageErrors).toEqual([]);
  });

  it("cancels a running run after a confirmation", async () => {
    await page.goto(`${server.url}/#/pipelines/runs/${cancelRunId}`);
    await page.locator("[data-testid=pipeline-run-page]").waitFor();
    expect(await page.locator("[data-testid=dag-node][data-step=build]").getAttribute("data-status")).toBe("waiting");
    await page.locator("[data-testid=cancel-run]").click();
    await page.locator("[data-testid=cancel-confirm-yes]").click();
    await page.locator("[data-testid=cancelling]").waitFor();
    expect(await page.locator("[data-testid=cancel-run]").count()).toBe(0);
    expect((await api.getPipelineRun({ params: { id: cancelRunId } })).run.cancelRequested).toBe(true);
    // The waiting step is dropped at once; the page shows it without a reload.
    await expect.poll(() => page.locator("[data-testid=dag-node][data-step=build]").getAttribute("data-status"), { timeout: 10_000 }).toBe("cancelled");
    await api.reportLocalStep({ params: { id: cancelRunId }, body: { step: "fetch", status: "cancelled", attempts: 1 } });
    await api.finishLocalRun({ params: { id: cancelRunId }, body: { status: "cancelled" } });
    await expect.poll(() => page.locator("[data-testid=pipeline-run-status]").getAttribute("data-status"), { timeout: 10_000 }).toBe("cancelled");
    expect(pageErrors).toEqual([]);
  });

  it("shows a sweep as parallel coordinates with the best trial highlighted and a sorted trials table", async () => {
    await page.goto(`${server.url}/#/sweeps/${sweepId}`);
    await page.locator("[data-testid=sweep-page]").waitFor();
    await page.locator("[data-testid=parallel-coordinates]").waitFor();
    expect(await page.locator("[data-testid=pc-line]").count()).toBe(5);
    const axes = page.locator("[data-testid=pc-axis]");
    expect(await axes.count()).toBe(4);
    expect(await page.locator("[data-testid=pc-axis][data-axis=lr]").getAttribute("data-scale")).toBe("log");
    expect(await page.locator("[data-testid=pc-axis][data-axis=depth]").getAttribute("data-scale")).toBe("linear");
    expect(await page.locator("[data-testid=pc-axis][data-axis=optimizer]").getAttribute("data-scale")).toBe("category");
    expect(await page.locator("[data-testid=pc-axis]").last().getAttribute("data-axis")).toBe("objective");
    const best = trialRuns.reduce((a, b) => (b.loss < a.loss ? b : a));
    const bestLines = page.locator("[data-testid=pc-line][data-best=true]");
    expect(await bestLines.count()).toBe(1);
    expect(await bestLines.getAttribute("data-trial")).toBe(best.id);
    expect(await page.locator("[data-testid=sweep-best]").textContent()).toContain("trial 3");

    const rows = page.locator("[data-testid=trial-row]");
    expect(await rows.count()).toBe(5);
    const values = (await page.locator("[data-testid=trial-objective]").evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-value")))));
    expect(values).toEqual([...trialRuns.map((t) => t.loss)].sort((a, b) => a - b));
    expect(await rows.first().getAttribute("data-best")).toBe("true");
    expect(await rows.first().getAttribute("data-trial")).toBe("3");

    // Hovering a line highlights that trial and shows its params.
    const worst = trialRuns.reduce((a, b) => (b.loss > a.loss ? b : a));
    // Lines cross, so a pointer at a path's box center may land on another line: send the events to the line itself.
    await page.locator(`[data-testid=pc-hit][data-trial="${worst.id}"]`).dispatchEvent("mouseover");
    await expect.poll(() => page.locator(`[data-testid=pc-line][data-trial="${worst.id}"]`).getAttribute("data-focus")).toBe("true");
    expect(await page.locator("[data-testid=pc-detail]").textContent()).toContain("sgd");
    expect(await page.locator("[data-testid=pc-detail]").textContent()).toContain("0.88");
    // Clicking pins a trial: it stays highlighted, and its table row is marked.
    const second = trialRuns.find((t) => t.trial === 2)!;
    await page.locator(`[data-testid=pc-hit][data-trial="${second.id}"]`).dispatchEvent("click");
    await page.locator("[data-testid=parallel-coordinates] svg").dispatchEvent("mouseout");
    await expect.poll(() => page.locator(`[data-testid=pc-line][data-trial="${second.id}"]`).getAttribute("data-focus")).toBe("true");
    expect(await page.locator(`[data-testid=trial-row][data-run="${second.id}"]`).getAttribute("class")).toContain("selected");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-pipelines-sweep.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it("lists schedules, toggles one, and lists workers", async () => {
    await page.goto(`${server.url}/#/pipelines/schedules`);
    const row = page.locator(`[data-testid=schedule-row][data-pipeline=${PUSHED}]`);
    await row.waitFor();
    expect(await page.locator("[data-testid=nav-pipelines-schedules]").getAttribute("class")).toContain("active");
    expect(await row.locator("[data-testid=schedule-cron]").textContent()).toContain("*/5 * * * *");
    expect(await row.textContent()).toContain("region");
    expect(await row.getAttribute("data-enabled")).toBe("true");
    expect((await row.locator("[data-testid=schedule-next]").textContent())?.trim()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);

    await row.locator("[data-testid=schedule-toggle]").click();
    await expect.poll(() => row.getAttribute("data-enabled")).toBe("false");
    expect(await row.locator("[data-testid=schedule-enabled]").isChecked()).toBe(false);
    const id = await row.getAttribute("data-schedule");
    const listed = (await api.listSchedules({ params: { name: PUSHED } })).schedules.find((s) => s.id === id);
    expect(listed?.enabled).toBe(false);
    await page.reload();
    await row.waitFor();
    expect(await row.getAttribute("data-enabled")).toBe("false");
    await row.locator("[data-testid=schedule-toggle]").click();
    await expect.poll(() => row.getAttribute("data-enabled")).toBe("true");

    const worker = page.locator("[data-testid=worker-row][data-worker=gpu-box-1]");
    await worker.waitFor();
    expect(await worker.textContent()).toContain("NVIDIA H100");
    expect(await worker.textContent()).toContain("16 CPU");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-pipelines-schedules.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
