/**
 * The SDK and the `cairn` CLI against a real server: batched logging, typed errors,
 * artifact round trips, crash-safe run ends, and the CLI's tables, JSON and exit codes.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn, CairnError, isCairnError } from "@cairn/sdk";
import { startServer } from "../packages/server/src/server.js";
import { ROOT, runCli, runNode, type Exit } from "./processes.js";

const EXIT_CHILD = path.join(ROOT, "packages/sdk/test/exit-child.ts");

let server: { url: string; close(): Promise<void> };
let dataDir: string;
let tmp: string;
let cairn: Cairn;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-e2e-data-"));
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-e2e-"));
  server = await startServer({ port: 0, dataDir, logLevel: "silent" });
  cairn = new Cairn({ url: server.url, handleExit: false });
});

afterAll(async () => {
  await server?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
});

const cli = (...args: string[]) => runCli(server.url, args);

describe("SDK against a real server", () => {
  it("stores a batch once when its answer is lost and the SDK resends it", async () => {
    // The first log-batch reaches the server, but its answer is lost on the way back.
    let lost = 0;
    const flaky: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (String(input).endsWith("/log") && lost++ === 0) throw new TypeError("socket hang up");
      return res;
    };
    const client = new Cairn({ url: server.url, handleExit: false, fetch: flaky, retry: { retries: 3, minDelayMs: 10, maxDelayMs: 20 } });
    const run = await client.startRun({ experiment: "e2e-sdk", runName: "lost-answer", captureContext: false });
    run.logMetrics("m", Array.from({ length: 10 }, (_, i) => ({ value: i, step: i })));
    await run.end();
    expect(lost).toBeGreaterThan(1);
    expect(await cairn.runs.getMetricHistory(run.id, "m")).toHaveLength(10);
  });

  it("logs 3000 metrics in one go and reads back exactly 3000 points", async () => {
    const run = await cairn.startRun({ experiment: "e2e-sdk", runName: "three-thousand" });
    run.logMetrics(
      "loss",
      Array.from({ length: 3000 }, (_, i) => ({ value: 1 / (i + 1), step: i })),
    );
    run.log({ params: { lr: 0.01, layers: 4, deep: true }, metrics: { acc: 0.93, odd: NaN }, tags: { stage: "e2e" }, step: 3000 });
    await run.end();

    const history = await cairn.runs.getMetricHistory(run.id, "loss");
    expect(history).toHaveLength(3000);
    expect(history.map((m) => m.step)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(history[9]!.value).toBeCloseTo(0.1);

    const got = await cairn.runs.get(run.id);
    expect(got.info.status).toBe("FINISHED");
    expect(got.info.endTime).toBeGreaterThan(0);
    expect(got.info.runName).toBe("three-thousand");
    expect(got.data.params).toEqual({ lr: "0.01", layers: "4", deep: "true" });
    expect(got.data.tags.stage).toBe("e2e");
    expect(Number.isNaN(got.data.metrics.find((m) => m.key === "odd")!.value)).toBe(true);
    // Context capture: this test runs inside the project's git checkout.
    expect(got.data.tags["mlflow.source.type"]).toBe("LOCAL");
    expect(got.data.tags["cairn.node.version"]).toBe(process.version);
    if (fs.existsSync(path.join(ROOT, ".git"))) expect(got.data.tags["mlflow.source.git.commit"]).toMatch(/^[0-9a-f]{40}$/);
  });

  it("throws typed errors with the server's codes", async () => {
    const e1 = await cairn.runs.get("no-such-run").catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(CairnError);
    expect(isCairnError(e1)).toBe(true);
    expect(e1).toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST", status: 404 });

    await expect(cairn.runs.logBatch("no-such-run", { metrics: [{ key: "a", value: 1 }] })).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
    await cairn.experiments.getOrCreate("e2e-dup");
    await expect(cairn.experiments.create("e2e-dup")).rejects.toMatchObject({ code: "RESOURCE_ALREADY_EXISTS", status: 400 });
    await expect(cairn.startRun({ experiment: { id: "987654" }, captureContext: false })).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });

    // A param changed from another handle: the server refuses the batch and flush() says so.
    const run = await cairn.startRun({ experiment: "e2e-sdk", captureContext: false });
    const other = await cairn.attachRun(run.id);
    run.logParam("lr", 1);
    await run.flush();
    other.logParam("lr", 2);
    await expect(other.flush()).rejects.toMatchObject({ name: "CairnError", code: "INVALID_PARAMETER_VALUE", status: 400 });
    // A handle attached after the param was logged knows it, and refuses the change at the call.
    const late = await cairn.attachRun(run.id);
    expect(() => late.logParam("lr", 3)).toThrow(expect.objectContaining({ code: "INVALID_PARAMETER_VALUE" }));
    await run.end();
    await expect(other.end()).resolves.toBeUndefined();
    await late.end();
  });

  it("searches runs across pages with a filter", async () => {
    const exp = await cairn.experiments.getOrCreate("e2e-search");
    for (let i = 0; i < 5; i++) {
      const run = await cairn.startRun({ experiment: { id: exp.experimentId }, runName: `s${i}`, captureContext: false });
      run.log({ metrics: { acc: i / 10 } });
      await run.end();
    }
    const found: string[] = [];
    for await (const r of cairn.runs.searchAll({ experimentIds: [exp.experimentId], filter: "metrics.acc >= 0.2", orderBy: ["metrics.acc DESC"], maxResults: 1 })) found.push(r.info.runName);
    expect(found).toEqual(["s4", "s3", "s2"]);
  });

  it("uploads, lists and downloads a directory byte for byte", async () => {
    const src = path.join(tmp, "model");
    fs.mkdirSync(path.join(src, "weights/shards"), { recursive: true });
    const files: Record<string, Buffer> = {
      "config.json": Buffer.from(JSON.stringify({ layers: 4 })),
      "weights/w.bin": randomBytes(2 * 1024 * 1024 + 3),
      "weights/shards/s 1.bin": randomBytes(70_000),
      "README.md": Buffer.from("# model\n"),
    };
    for (const [rel, b] of Object.entries(files)) fs.writeFileSync(path.join(src, rel), b);

    const run = await cairn.startRun({ experiment: "e2e-sdk", captureContext: false });
    let progress = 0;
    const uploaded = await run.logArtifact(src, "model", { onProgress: (d) => (progress = d) });
    const total = Object.values(files).reduce((n, b) => n + b.length, 0);
    expect(progress).toBe(total);
    expect(uploaded.map((u) => u.path)).toEqual(["model/README.md", "model/config.json", "model/weights/shards/s 1.bin", "model/weights/w.bin"]);

    const top = await cairn.artifacts.list(run.id);
    expect(top).toEqual([{ path: "model", isDir: true }]);
    const all = await cairn.artifacts.list(run.id, "model", { recursive: true });
    expect(all.filter((e) => !e.isDir).map((e) => e.path).sort()).toEqual(uploaded.map((u) => u.path));
    expect(all.find((e) => e.path === "model/weights/w.bin")?.fileSize).toBe(files["weights/w.bin"]!.length);

    const dest = path.join(tmp, "restored");
    const local = await cairn.artifacts.download(run.id, "model", dest);
    expect(local).toBe(path.join(dest, "model"));
    for (const [rel, b] of Object.entries(files)) expect(Buffer.compare(fs.readFileSync(path.join(local, rel)), b)).toBe(0);

    await cairn.artifacts.delete(run.id, "model/weights");
    expect((await cairn.artifacts.list(run.id, "model")).map((e) => e.path)).toEqual(["model/README.md", "model/config.json"]);
    await expect(cairn.artifacts.download(run.id, "model/weights/w.bin", dest)).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
    await run.end();
  });
});

describe("crash-safe runs (child processes)", () => {
  const steps = Array.from({ length: 2500 }, (_, i) => i);

  async function runChild(mode: string, kill?: NodeJS.Signals): Promise<{ exit: Exit; runId: string }> {
    let runId = "";
    const exit = await runNode(EXIT_CHILD, [mode], {
      env: { CAIRN_URL: server.url },
      onStdout: (text, k) => {
        const m = text.match(/ready (\S+)/);
        if (m && !runId) {
          runId = m[1]!;
          if (kill) k(kill);
        }
      },
    });
    return { exit, runId };
  }

  it("SIGTERM: every metric is stored and the run is KILLED with an end time", async () => {
    const { exit, runId } = await runChild("sigterm", "SIGTERM");
    expect(exit.signal).toBe("SIGTERM");
    const run = await cairn.runs.get(runId);
    expect(run.info.status).toBe("KILLED");
    expect(run.info.endTime).toBeGreaterThan(0);
    expect((await cairn.runs.getMetricHistory(runId, "loss")).map((m) => m.step)).toEqual(steps);
  });

  it("uncaught exception: every metric is stored and the run is FAILED; exit code 1", async () => {
    const { exit, runId } = await runChild("throw");
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain("boom");
    const run = await cairn.runs.get(runId);
    expect(run.info.status).toBe("FAILED");
    expect(run.info.endTime).toBeGreaterThan(0);
    expect(await cairn.runs.getMetricHistory(runId, "loss")).toHaveLength(2500);
  });

  it("a program that forgets run.end(): the run is FINISHED on the way out", async () => {
    const { exit, runId } = await runChild("return");
    expect(exit.code).toBe(0);
    expect((await cairn.runs.get(runId)).info.status).toBe("FINISHED");
    expect(await cairn.runs.getMetricHistory(runId, "loss")).toHaveLength(2500);
  });
});

describe("cairn CLI", () => {
  let runA: string;
  let runB: string;

  beforeAll(async () => {
    for (const lr of [0.1, 0.01]) {
      const run = await cairn.startRun({ experiment: "e2e-cli", runName: `lr-${lr}`, captureContext: false });
      run.log({ params: { lr, optimizer: "adam" }, metrics: { acc: 0.8 + lr } });
      await run.end();
      if (lr === 0.1) runA = run.id;
      else runB = run.id;
    }
  });

  it("prints tables by default", async () => {
    const list = await cli("runs", "list", "--experiment", "e2e-cli", "--order-by", "metrics.acc DESC", "--columns", "params.lr");
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^RUN ID\s+NAME\s+STATUS\s+STARTED\s+DURATION\s+metrics\.acc\s+params\.lr$/);
    expect(lines[1]).toContain(runA);
    expect(lines[1]).toMatch(/lr-0\.1\s+FINISHED/);
    expect(lines[2]).toContain(runB);

    const exps = await cli("experiments", "list");
    expect(exps.code).toBe(0);
    expect(exps.stdout).toMatch(/^ID\s+NAME/);
    expect(exps.stdout).toContain("e2e-cli");

    const cmp = await cli("runs", "compare", runA, runB);
    expect(cmp.code).toBe(0);
    expect(cmp.stdout).toMatch(/\*\s+params\.lr\s+0\.1\s+0\.01/);
    expect(cmp.stdout).toMatch(/\n\s+params\.optimizer\s+adam\s+adam/);
  });

  it("--json prints JSON only", async () => {
    const res = await cli("--json", "runs", "list", "--experiment", "e2e-cli");
    expect(res.code).toBe(0);
    const parsed = JSON.parse(res.stdout) as { runs: { info: { runId: string } }[] };
    expect(parsed.runs.map((r) => r.info.runId).sort()).toEqual([runA, runB].sort());

    const show = await cli("runs", "show", runA, "--json");
    expect(JSON.parse(show.stdout).run.data.params.lr).toBe("0.1");
  });

  it("exits 1 with `error: CODE: message` for server errors and 2 for usage errors", async () => {
    const res = await cli("runs", "show", "no-such-run");
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toMatch(/^error: RESOURCE_DOES_NOT_EXIST: /);
    expect(res.stderr).not.toMatch(/\n\s+at /);

    const usage = await cli("runs", "list");
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--experiment");

    // A bad id among several: the others are still deleted, and the result says which.
    const doomed = await cairn.startRun({ experiment: "e2e-sdk", captureContext: false });
    await doomed.end();
    const partial = await cli("--json", "runs", "delete", "no-such-run", doomed.id);
    expect(partial.code).toBe(1);
    expect(JSON.parse(partial.stdout)).toMatchObject({ deleted: [doomed.id], failed: [{ runId: "no-such-run", code: "RESOURCE_DOES_NOT_EXIST" }] });
    expect((await cairn.runs.get(doomed.id)).info.lifecycleStage).toBe("deleted");
  });

  it("uploads, lists and downloads artifacts", async () => {
    const src = path.join(tmp, "cli-up");
    fs.mkdirSync(path.join(src, "sub"), { recursive: true });
    const big = randomBytes(300_000);
    fs.writeFileSync(path.join(src, "sub/data.bin"), big);
    fs.writeFileSync(path.join(src, "notes.txt"), "hello");

    const up = await cli("--json", "artifacts", "upload", runA, src, "bundle");
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout).uploaded.map((u: { path: string }) => u.path)).toEqual(["bundle/notes.txt", "bundle/sub/data.bin"]);
    // No progress bar when stderr is not a terminal.
    expect(up.stderr).toBe("");

    const ls = await cli("artifacts", "list", runA, "bundle", "--recursive");
    expect(ls.stdout).toMatch(/bundle\/sub\/data\.bin\s+293\.0 KiB/);

    const dest = path.join(tmp, "cli-down");
    const down = await cli("artifacts", "download", runA, "bundle", "--dest", dest);
    expect(down.code).toBe(0);
    expect(down.stdout.trim()).toBe(path.join(dest, "bundle"));
    expect(Buffer.compare(fs.readFileSync(path.join(dest, "bundle/sub/data.bin")), big)).toBe(0);
    expect(fs.readFileSync(path.join(dest, "bundle/notes.txt"), "utf8")).toBe("hello");
  });
});
