/**
 * Delayed ground truth end to end: a real server serving an ONNX logistic regression, 200 predictions
 * with known request ids through the SDK (`cairn.deployments.predict`), their labels imported with
 * `cairn feedback import` from a CSV file and a JSON-lines file (unknown request ids counted unmatched,
 * labels posted again counted updated), then `cairn performance` (JSON and table) agreeing with the
 * accuracy computed here from the predictions and labels; bad files: a missing column (exit 2), mixed
 * label types (exit 1 naming the line), a label of another type than the deployment's (the server's
 * 400 code, with the file's line). `cairn drift` of the deployment's traffic, and of a local file
 * (`--current FILE`) against a file or a dataset version, with its errors.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import { Readable } from "node:stream";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn, type PerformanceResponse } from "@cairn/sdk";
import { onnxSignature } from "../examples/credit-risk/src/onnx-export.js";
import { startServer } from "../packages/server/src/server.js";
import { logisticOnnxFile } from "./models.js";
import { runCli, runCliExpect } from "./processes.js";

const D = 3;
const NAME = "churn";
const N = 200;
let server: Awaited<ReturnType<typeof startServer>>;
let tmp: string;
let sdk: Cairn;
/** The class each prediction gave (probability ≥ 0.5) and its true label, by request id `q{i}`. */
const predicted: boolean[] = [];
const truth: boolean[] = [];
let t0: number;

const cli = (args: string[], code = 0) => runCliExpect(server.url, args, code, { env: { CAIRN_TOKEN: undefined } });
const file = (name: string, text: string) => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text);
  return p;
};

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-monitoring-e2e-"));
  server = await startServer({ port: 0, dataDir: path.join(tmp, "data"), logLevel: "silent" });
  sdk = new Cairn({ url: server.url, handleExit: false });
  const run = await sdk.startRun({ experiment: "monitoring" });
  await sdk.models.register("churn", { runId: run.id, model: { onnx: logisticOnnxFile(tmp, [1, -2, 0.5], 0.1, "v1.onnx") }, signature: onnxSignature(D) });
  await run.end();
  t0 = Date.now();
  await sdk.deployments.create({ name: NAME, model: "churn", primary: { version: 1 } });
  await sdk.deployments.waitUntilReady(NAME, { timeoutMs: 60_000 });

  // 200 predictions with known request ids, 20 at a time.
  for (let start = 0; start < N; start += 20) {
    await Promise.all(
      Array.from({ length: 20 }, async (_, k) => {
        const i = start + k;
        const x = [Math.sin(i), Math.cos(2 * i), ((i % 7) - 3) / 3];
        const p = await sdk.deployments.predict(NAME, { id: `q${i}`, inputs: [{ name: "features", datatype: "FP32", shape: [1, D], data: x }] });
        expect(p.requestId).toBe(`q${i}`);
        const prob = (p.response.outputs.find((o) => o.name === "probability")!.data as number[])[0]!;
        predicted[i] = prob >= 0.5;
        // Every 4th label disagrees with the prediction, every 10th more too: a known accuracy.
        truth[i] = i % 4 === 0 || i % 10 === 1 ? !predicted[i] : predicted[i];
      }),
    );
  }
  // The inference log is written in the background: wait until all 200 are in.
  for (let until = Date.now() + 15_000; ; ) {
    const page = await sdk.client.api.queryInferenceLog({ params: { name: "churn" }, query: { deployment: NAME, limit: 1000 } });
    if (page.records.length >= N) break;
    if (Date.now() > until) throw new Error(`only ${page.records.length} predictions logged`);
    await sleep(100);
  }
}, 90_000);

afterAll(async () => {
  await server?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("cairn feedback import and cairn performance (e2e)", () => {
  it("imports labels from CSV and JSON lines: unmatched and updated counted; performance agrees with the predictions", async () => {
    expect(predicted.filter(Boolean).length, "both classes predicted").toBeGreaterThan(10);
    expect(predicted.filter((p) => !p).length, "both classes predicted").toBeGreaterThan(10);
    // CSV: q0..q99 (labels as true/false text, a quoted id, an extra column, ISO times on some) and 3 unknown ids.
    const csvRows = ["note,request_id,outcome,time"];
    for (let i = 0; i < 100; i++) csvRows.push(`"a, b",${i === 7 ? `"q${i}"` : `q${i}`},${truth[i] ? "true" : "FALSE"},${i % 2 ? new Date(t0 + i).toISOString() : ""}`);
    csvRows.push("x,unknown-1,true,", "x,unknown-2,false,", "x,unknown-3,true,");
    const csv = file("labels.csv", `${csvRows.join("\r\n")}\r\n`);
    // JSON lines: q100..q199, q0..q4 again with the same labels (updated), 2 unknown ids, a blank line.
    const jsonl = [...Array.from({ length: 100 }, (_, k) => k + 100), 0, 1, 2, 3, 4].map((i) => JSON.stringify({ request_id: `q${i}`, label: truth[i], time: t0 + i }));
    jsonl.push("", JSON.stringify({ requestId: "unknown-4", label: true }), JSON.stringify({ request_id: "unknown-5", label: false }));
    const jl = file("labels.jsonl", `${jsonl.join("\n")}\n`);

    const [fromCsv, fromJsonl] = [
      await cli(["feedback", "import", NAME, csv, "--label-column", "outcome"]),
      JSON.parse((await cli(["--json", "feedback", "import", NAME, jl])).stdout),
    ];
    expect(fromCsv.stdout).toMatch(/^RECORDS\s+ACCEPTED\s+UPDATED\s+UNMATCHED$/m);
    expect(fromCsv.stdout).toMatch(/^\s*103\s+103\s+0\s+3$/m);
    expect(fromCsv.stderr).toMatch(/3 label\(s\) match no logged prediction of 'churn' yet/);
    expect(fromJsonl).toEqual({ deployment: NAME, file: jl, format: "jsonl", records: 107, posts: 1, accepted: 102, updated: 5, unmatched: 2 });

    const correct = predicted.filter((p, i) => p === truth[i]).length;
    const tp = predicted.filter((p, i) => p && truth[i]).length;
    const perf = JSON.parse((await cli(["--json", "performance", NAME, "--since", "1h"])).stdout) as PerformanceResponse;
    expect(perf).toMatchObject({ deployment: NAME, model: "churn", task: "classification", labelType: "boolean", positive: "true", threshold: 0.5 });
    expect(perf.series.map((s) => [s.version, s.arm, s.windows.length])).toEqual([["1", "primary", 1]]);
    const w = perf.series[0]!.windows[0]!;
    expect([w.n, w.skipped]).toEqual([N, 0]);
    expect(w.classification!.accuracy).toBeCloseTo(correct / N, 12);
    expect(w.classification!.precision).toBeCloseTo(tp / predicted.filter(Boolean).length, 12);
    expect(w.classification!.recall).toBeCloseTo(tp / truth.filter(Boolean).length, 12);
    // The SDK says the same; the table shows one row a version, arm and window.
    const [viaSdk, table] = await Promise.all([sdk.monitoring.performance(NAME, { from: perf.from, to: perf.to }), cli(["performance", NAME, "--from", String(perf.from), "--to", String(perf.to), "--window", "1h"])]);
    expect(viaSdk.series).toEqual(perf.series);
    expect(table.stdout).toMatch(/task\s+classification/);
    // Each metric's label-free estimate (CBPE) next to it: over all 200 predictions, calibrated on their labels.
    expect(table.stdout).toMatch(/^VERSION\s+ARM\s+START\s+N\s+SKIPPED\s+EST_N\s+ACCURACY\s+ACCURACY_EST\s+PRECISION\s+PRECISION_EST\s+RECALL\s+RECALL_EST\s+F1\s+F1_EST\s+ROC_AUC\s+ROC_AUC_EST\s+LOG_LOSS$/m);
    expect(table.stdout).toMatch(new RegExp(`^1\\s+primary\\s+\\S+ \\S+\\s+${N}\\s+0\\s+${N}\\s+${String(Number((correct / N).toPrecision(6))).replace(".", "\\.")}\\s+0\\.\\d+\\s`, "m"));
    expect(table.stdout).toMatch(/label-free estimates \(CBPE\).*1\/primary: 200 labelled/);
    expect(w.estimated).toMatchObject({ n: N, calibrated: true });
  }, 30_000);

  it("refuses bad files: a missing column (exit 2), mixed labels (exit 1 naming the line), a label of another type than the deployment's (the server's code)", async () => {
    const noColumn = file("no-label.csv", "request_id,y\nq1,true\n");
    const mixed = file("mixed.csv", "request_id,label\nq1,true\nq2,true\nq3,maybe\n");
    const good = file("good.jsonl", `${JSON.stringify({ request_id: "q1", label: true })}\n${JSON.stringify({ request_id: "q2", label: true })}\n`);
    const wrongType = file("wrong-type.jsonl", `${JSON.stringify({ request_id: "q1", label: 1 })}\n${JSON.stringify({ request_id: "q2", label: 0 })}\n`);
    const badJson = file("bad.jsonl", `${JSON.stringify({ request_id: "q1", label: true })}\n{nope\n`);
    const [a, b, c, d, e, f, g] = await Promise.all([
      runCli(server.url, ["feedback", "import", NAME, noColumn]),
      runCli(server.url, ["feedback", "import", NAME, mixed]),
      runCli(server.url, ["feedback", "import", NAME, wrongType]),
      runCli(server.url, ["feedback", "import", NAME, badJson]),
      runCli(server.url, ["feedback", "import", "no-such-deployment", good]),
      runCli(server.url, ["feedback", "import", NAME, path.join(tmp, "missing.csv")]),
      runCli(server.url, ["performance", NAME, "--since", "1h", "--to", "5"]),
    ]);
    expect([a.code, a.stderr]).toEqual([2, expect.stringMatching(/^error: .*no-label\.csv has no column 'label' \(--label-column\); its columns: request_id, y/)]);
    expect([b.code, b.stderr]).toEqual([1, expect.stringMatching(/^error: INVALID_PARAMETER_VALUE: .*mixed\.csv line 4: label 'maybe' is a string, but line 2's \(true\) is a boolean/)]);
    expect([c.code, c.stderr]).toEqual([1, expect.stringMatching(/^error: INVALID_PARAMETER_VALUE: .*wrong-type\.jsonl line 1: records\[0\] \(request 'q1'\): label is a number, but deployment 'churn' has boolean labels/)]);
    expect([d.code, d.stderr]).toEqual([1, expect.stringMatching(/^error: INVALID_PARAMETER_VALUE: .*bad\.jsonl line 2: not valid JSON/)]);
    expect([e.code, e.stderr]).toEqual([1, expect.stringMatching(/^error: RESOURCE_DOES_NOT_EXIST: /)]);
    expect([f.code, f.stderr]).toEqual([2, expect.stringMatching(/cannot read .*missing\.csv/)]);
    expect([g.code, g.stderr]).toEqual([2, expect.stringMatching(/either --since or --from\/--to/)]);
    // Nothing of the refused files was stored: q1's label is still the imported one.
    expect((await sdk.monitoring.feedback(NAME, "q1", truth[1]!)).updated).toBe(1);
    const again = await sdk.monitoring.performance(NAME, { from: t0 - 60_000 });
    expect(again.series[0]!.windows[0]!.n).toBe(N);
  }, 30_000);
});

describe("cairn drift, cairn monitor and cairn alerts (e2e)", () => {
  it("reports drift of the deployment's traffic (table, JSON, HTML), and runs a monitor whose rule fires", async () => {
    // The same traffic on both sides: every column's statistic is 0 (three inputs, the probability and the label).
    const table = await cli(["drift", "--deployment", NAME, "--reference-from", String(t0 - 60_000), "--reference-to", String(Date.now() + 60_000), "--html", path.join(tmp, "drift.html")]);
    expect(table.stdout).toMatch(/verdict\s+no drift: 0 of 5 columns/);
    expect(table.stdout).toMatch(/features\[0\]\s+numeric\s+ks/);
    expect(fs.readFileSync(path.join(tmp, "drift.html"), "utf8")).toMatch(/^<!doctype html>[\s\S]*features\[2\][\s\S]*<svg /);
    const json = JSON.parse((await cli(["--json", "drift", "--deployment", NAME, "--reference-from", String(t0 - 60_000), "--reference-to", String(Date.now() + 60_000), "--columns", "features[1]"])).stdout);
    expect(json.columns.map((c: { column: string; drifted: boolean }) => [c.column, c.drifted])).toEqual([["features[1]", false]]);
    expect(json.reference.rows).toBe(N);
    await cli(["drift", "--deployment", NAME], 2);
    await cli(["drift", "--deployment", NAME, "--reference", "data:nope@v1"], 1);

    // A file against a file, and against a dataset version: no deployment needed.
    const csvOf = (n: number, shift: number) => "age,income,segment\n" + Array.from({ length: n }, (_, i) => `${((i * 7919) % 1000) / 100 + shift},${((i * 104729) % 997) / 997},${"abc"[i % 3]}`).join("\n") + "\n";
    const ref = file("ref.csv", csvOf(1500, 0));
    const cur = file("cur.csv", csvOf(1200, 3));
    const byFile = await cli(["drift", "--reference", ref, "--current", cur, "--html", path.join(tmp, "file-drift.html")]);
    expect(byFile.stdout).toMatch(/current\s+cur\.csv \(1200 rows\)/);
    expect(byFile.stdout).toMatch(/reference\s+ref\.csv \(1500 rows\)/);
    expect(byFile.stdout).toMatch(/verdict\s+no drift: 1 of 3 columns/);
    expect(byFile.stdout).toMatch(/^age\s+numeric\s+wasserstein\s+\S+\s+-\s+0\.1\s+DRIFT/m);
    expect(byFile.stdout).toMatch(/^segment\s+categorical\s+jensenshannon\s+0\s+-\s+0\.1\s+ok/m);
    expect(fs.readFileSync(path.join(tmp, "file-drift.html"), "utf8")).toMatch(/cur\.csv[\s\S]*<svg /);
    const bytes = fs.readFileSync(ref);
    await sdk.datasets.create("churn-ref");
    await sdk.datasets.uploadVersion("churn-ref", { entries: [{ path: "ref.csv", size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") } as never], readFile: () => Readable.from(bytes) } as never);
    const byDataset = await cli(["drift", "--reference", "data:churn-ref@v1", "--current", cur]);
    expect(byDataset.stdout).toMatch(/reference\s+churn-ref@v1\/ref\.csv \(1500 rows\)/);
    expect(byDataset.stdout).toMatch(/verdict\s+no drift: 1 of 3 columns/);
    const viaJson = JSON.parse((await cli(["--json", "drift", "--reference", ref, "--current", cur, "--columns", "income,age"])).stdout);
    expect(viaJson.columns.map((c: { column: string; drifted: boolean }) => [c.column, c.drifted])).toEqual([["income", false], ["age", true]]);
    expect(viaJson.current).toEqual({ rows: 1200, truncated: false, source: "cur.csv" });
    // One test and threshold for every column, and the dataset-level share: KS flags age (shifted by 3), and 1 of 2 columns is a dataset drift at a share of 0.5.
    const tuned = JSON.parse((await cli(["--json", "drift", "--reference", ref, "--current", cur, "--columns", "income,age", "--test", "ks", "--threshold", "0.01", "--drift-share", "0.5"])).stdout);
    expect(tuned.columns.map((c: { column: string; test: string; threshold: number; drifted: boolean }) => [c.column, c.test, c.threshold, c.drifted])).toEqual([["income", "ks", 0.01, false], ["age", "ks", 0.01, true]]);
    expect(tuned.dataset).toMatchObject({ driftedColumns: 1, totalColumns: 2, driftShare: 0.5, datasetDrift: true });
    await cli(["drift", "--reference", ref, "--current", cur, "--test", "anova"], 2);
    await cli(["drift", "--reference", ref, "--current", cur, "--drift-share", "1.5"], 2);
    await cli(["drift", "--deployment", NAME, "--reference", "data:churn-ref@v1", "--test", "ks"], 2);
    // An empty file is no data; a reference without the current file's column, a bad flag mix: codes.
    expect((await cli(["drift", "--reference", ref, "--current", file("empty.csv", "")])).stdout).toMatch(/verdict\s+no data in the current file/);
    const noCol = await runCli(server.url, ["drift", "--reference", file("narrow.csv", "age\n1\n2\n"), "--current", cur]);
    expect([noCol.code, noCol.stderr]).toEqual([1, expect.stringMatching(/INVALID_PARAMETER_VALUE.*no column 'income'/)]);
    await cli(["drift", "--reference", ref, "--current", cur, "--deployment", NAME], 2);
    await cli(["drift", "--current", cur], 2);
    await cli(["drift", "--reference", path.join(tmp, "missing.csv"), "--current", cur], 2);
    await cli(["drift", "--reference", "data:nope@v1", "--current", cur], 1);

    const spec = file("monitor.json", JSON.stringify({ name: "traffic", windowSeconds: 3600, intervalSeconds: 3600, rules: [{ name: "busy", series: "traffic.primary.requests", op: ">=", threshold: 100 }] }));
    expect((await cli(["monitor", "create", NAME, spec])).stdout).toMatch(/monitor\s+traffic/);
    const ran = await cli(["monitor", "run", NAME, "traffic"]);
    expect(ran.stdout).toMatch(/traffic\.primary\.requests\s+200/);
    expect(ran.stdout).toMatch(/alert busy fired at 200/);
    expect((await cli(["monitor", "ls", NAME])).stdout).toMatch(/traffic.*busy: firing/);
    const alerts = JSON.parse((await cli(["--json", "alerts", NAME])).stdout).events;
    expect(alerts).toEqual([expect.objectContaining({ monitor: "traffic", rule: "busy", kind: "fired", value: 200 })]);
    await cli(["monitor", "create", NAME, file("bad.json", "{not json")], 2);
    expect((await cli(["monitor", "rm", NAME, "traffic"])).stdout).toMatch(/deleted monitor traffic/);
  });
});
