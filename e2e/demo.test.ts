/**
 * `cairn demo` end to end, as a newcomer runs it (`npm run demo` runs the same built CLI): the whole
 * lifecycle on a fresh embedded server, then every stage's outcome checked from the API of a server
 * started again on the demo's data directory (the demo's server stops with `--no-serve`), with the
 * admin token the demo reports. Nothing is taken from the demo's own account of itself except ids to
 * look up.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn } from "@cairn/sdk";
import { startServer } from "../packages/server/src/server.js";
import { chromiumAvailable, ensureUiBuilt, launchChromium, openPage, SHOTS } from "./browser.js";
import { ROOT } from "./processes.js";

interface Summary {
  dataDir: string;
  seconds: number;
  tokens: { admin: string; sam: string };
  trainingRuns: { initial: string; retraining: string };
  versions: { champion: string; challenger: string };
  promotions: number[];
  webhookCalls: number;
  stages: { stage: string; seconds: number }[];
}

let tmp: string;
let out = "";
let code: number | null = null;
let summary: Summary;
let server: Awaited<ReturnType<typeof startServer>>;
let api: Cairn;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-demo-e2e-"));
  const dataDir = path.join(tmp, "data");
  const summaryFile = path.join(tmp, "summary.json");
  const env = { ...process.env, FORCE_COLOR: "0" };
  delete env.CAIRN_URL;
  delete env.CAIRN_TOKEN;
  code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, "packages/server/bin/cairn.js"), "demo", "--port", "0", "--no-serve", "--data-dir", dataDir, "--summary", summaryFile], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("exit", resolve);
  });
  if (code !== 0) throw new Error(`cairn demo exited ${code}:\n${out}`);
  summary = JSON.parse(fs.readFileSync(summaryFile, "utf8")) as Summary;
  server = await startServer({ port: 0, dataDir, auth: true, logLevel: "warn" });
  api = new Cairn({ url: server.url, token: summary.tokens.admin, handleExit: false });
}, 400_000);

afterAll(async () => {
  await server?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("cairn demo", () => {
  it("prints each of the ten stages and where to look in the UI", () => {
    for (let i = 1; i <= 10; i++) expect(out).toContain(`[${i}/10]`);
    expect(out).toMatch(/Done in \d+ s/);
    expect(out).toContain("/#/deployments/credit-risk/monitoring");
    expect(summary.stages).toHaveLength(10);
    process.stdout.write(`cairn demo took ${summary.seconds.toFixed(0)} s: ${summary.stages.map((s) => `${s.stage} ${s.seconds.toFixed(1)} s`).join("; ")}\n`);
  });

  it("1: versioned the data twice, the second from the shifted world", async () => {
    const versions = (await api.datasets.listVersions("credit-raw")).versions;
    expect(versions.map((v) => v.number).sort()).toEqual([1, 2]);
    const diff = await api.datasets.diff("credit-raw", "v1", "v2");
    expect(JSON.stringify(diff)).toContain("raw.csv");
  });

  it("2 and 8: ran the training pipeline on a worker, and again when the alert fired", async () => {
    const first = (await api.client.api.getPipelineRun({ params: { id: summary.trainingRuns.initial } })).run;
    const second = (await api.client.api.getPipelineRun({ params: { id: summary.trainingRuns.retraining } })).run;
    for (const r of [first, second]) {
      expect(r.pipeline).toBe("credit-risk-train");
      expect(r.status).toBe("succeeded");
      expect(r.mode).toBe("queued");
      expect(r.steps.map((s) => s.name)).toEqual(["fetch", "validate", "featurize", "train", "evaluate", "export", "register"]);
    }
    expect(first.trigger.kind).toBe("manual");
    // The second run was started by the monitor's alert, on the new data: nothing came from the cache.
    expect(second.trigger.kind).toBe("api");
    expect(JSON.stringify(second.trigger)).toContain("auc-drop");
    expect(second.steps.filter((s) => s.status === "cached")).toEqual([]);
  });

  it("3 and 9: registered two versions and promoted each through the gate with sam's approval", async () => {
    const { champion, challenger } = summary.versions;
    expect([champion, challenger]).toEqual(["1", "2"]);
    expect((await api.models.getByAlias("credit-risk", "champion")).version).toBe(challenger);
    for (const [id, version] of [[summary.promotions[0]!, champion], [summary.promotions[1]!, challenger]] as const) {
      const p = await api.models.promotions.get(id);
      expect(p).toMatchObject({ name: "credit-risk", alias: "champion", version, status: "approved", requester: "maya", decidedBy: "sam", gatesPassed: true });
      expect(p.gateResults.map((g) => g.gate.kind)).toEqual(["metric", "signature_compatible"]);
    }
    // The challenger's run holds the shadow evaluation the approval rested on.
    const v2 = await api.models.getVersion("credit-risk", challenger);
    const metrics = Object.fromEntries((await api.runs.get(v2.runId)).data.metrics.map((m) => [m.key, m.value]));
    expect(metrics.shadow_roc_auc).toBeGreaterThan(metrics.shadow_champion_roc_auc!);
  });

  it("4 and 10: the deployment now serves the challenger alone, after a canary", async () => {
    const d = await api.deployments.get("credit-risk");
    expect(d.spec.primary).toEqual({ alias: "champion" });
    expect(d.spec.canary).toBeNull();
    expect(d.spec.shadow).toBeNull();
    expect(d.arms.find((a) => a.arm === "primary")?.version).toBe(summary.versions.challenger);
    const actions = (await api.deployments.history("credit-risk", { limit: 50 })).history.map((e) => e.action).reverse();
    expect(actions[0]).toBe("create");
    expect(actions).toContain("auto-rollout");
    expect(actions.at(-1)).toBe("promote-canary");
  });

  it("5 to 7: traffic with late labels; drift and the performance drop detected and alerted", async () => {
    const events = await api.monitoring.alerts("credit-risk", { limit: 100 });
    const drift = events.find((e) => e.rule === "data-drift" && e.kind === "fired");
    const auc = events.find((e) => e.rule === "auc-drop" && e.kind === "fired");
    expect(drift?.value).toBeGreaterThanOrEqual(0.25);
    expect(drift?.actions).toEqual([expect.objectContaining({ type: "webhook", ok: true })]);
    expect(summary.webhookCalls).toBeGreaterThanOrEqual(1);
    expect(auc?.value).toBeLessThan(0.75);
    expect(auc?.actions).toEqual([expect.objectContaining({ type: "pipeline", ok: true, detail: expect.stringContaining(summary.trainingRuns.retraining) })]);
    // Per version and arm from the labels: the champion fell on the shifted traffic; the challenger, in shadow, did better.
    const perf = await api.monitoring.performance("credit-risk", { from: 0, task: "classification", output: "probability", positive: "1" });
    const auc1 = perf.series.find((s) => s.version === "1" && s.arm === "primary")?.windows[0]?.classification?.rocAuc;
    const auc2 = perf.series.find((s) => s.version === "2" && s.arm === "shadow")?.windows[0]?.classification?.rocAuc;
    expect(auc2).toBeGreaterThan(auc1!);
    const series = await api.client.api.getMonitorSeries({ params: { name: "credit-risk", monitor: "production" }, query: { series: "drift.share" } });
    expect(Math.max(...series.points.map((p) => p.value ?? 0))).toBeGreaterThanOrEqual(0.25);
  });

  it("lineage runs from the fresh dataset version to the deployment", async () => {
    const g = await api.datasets.lineage("deployment:credit-risk", { direction: "upstream", depth: 10 });
    const ids = JSON.stringify(g.nodes);
    expect(ids).toContain("model:credit-risk/2");
    expect(ids).toContain("dataset:credit-raw@v2");
  });

  it.runIf(chromiumAvailable("demo UI test"))("the UI shows it: the alerts on the monitoring page link to the retraining run, which links to the version it registered", async () => {
    ensureUiBuilt();
    const browser = await launchChromium();
    const errors: string[] = [];
    try {
      const page = await openPage(browser, errors);
      await page.context().addCookies([{ name: "cairn_token", value: summary.tokens.sam, url: server.url }]);
      await page.goto(`${server.url}/#/deployments/credit-risk/monitoring`);
      const fired = page.locator("[data-testid=mon-alert-row][data-kind=fired][data-rule=auc-drop]");
      await fired.waitFor();
      expect(await page.locator("[data-testid=mon-alert-row][data-kind=fired][data-rule=data-drift]").count()).toBe(1);
      await page.screenshot({ path: `${SHOTS}/cairn-ui-demo-monitoring.png`, fullPage: true });
      const link = fired.locator("[data-testid=mon-alert-run-link]");
      expect(await link.getAttribute("href")).toBe(`#/pipelines/runs/${summary.trainingRuns.retraining}`);
      await link.click();
      const run = page.locator("[data-testid=pipeline-run-page]");
      await run.waitFor();
      expect(await run.getAttribute("data-status")).toBe("succeeded");
      expect(await page.locator("[data-testid=pipeline-run-trigger]").textContent()).toContain("auc-drop");
      const registered = page.locator("[data-testid=registered-as] a");
      await registered.waitFor();
      expect(await registered.textContent()).toBe(`credit-risk v${summary.versions.challenger}`);
      await registered.click();
      await page.waitForURL(/#\/models\/credit-risk/);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
