/**
 * Step `register`: prints the metrics, and when a Cairn server answers at `CAIRN_URL` (default
 * http://127.0.0.1:5005) logs them with the model and registers a new version of the model with
 * its signature. Without a server it says why it skipped and succeeds, so `cairn run --offline`
 * works. Writes what happened to `--out`.
 * Usage: register.ts --name credit-risk --onnx onnx --model model/model.json --cv metrics/cv.json --holdout metrics/holdout.json --features data/features [--inputs data/source.json] --out registration.json
 */
import { join } from "node:path";
import { DEFAULT_URL, type ModelSignature } from "@cairn/sdk";
import { Args, runStep } from "../cli-args.js";
import { readJson, writeJson } from "../csv.js";
import type { LogisticModel } from "../logistic-regression.js";
import type { ClassificationMetrics } from "../metrics.js";
import type { Verification } from "../onnx-export.js";
import { registerModel } from "../register-model.js";

interface CvMetrics {
  folds: number;
  options: { l2: number; maxIter?: number; classWeight?: string };
  perFold: ClassificationMetrics[];
  summary: Record<string, { mean: number; std: number }>;
  trainRows: number;
}

const METRIC_KEYS = ["rocAuc", "f1", "precision", "recall", "accuracy", "logLoss"] as const;
const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

runStep("register", async () => {
  const args = new Args(process.argv.slice(2));
  const onnxDir = args.string("onnx");
  const name = args.string("name");
  const cv = readJson<CvMetrics>(args.string("cv"));
  const holdout = readJson<ClassificationMetrics>(args.string("holdout"));
  const model = readJson<LogisticModel & { threshold: number; featureNames: string[] }>(args.string("model"));
  const verification = readJson<Verification>(join(onnxDir, "verification.json"));
  if (!verification.passed) throw new Error("the ONNX model did not pass verification; refusing to register it");

  const metrics: Record<string, number> = {};
  for (const k of METRIC_KEYS) {
    metrics[`holdout_${snake(k)}`] = holdout[k];
    const s = cv.summary[k];
    if (s) {
      metrics[`cv_${snake(k)}_mean`] = s.mean;
      metrics[`cv_${snake(k)}_std`] = s.std;
    }
  }
  const [[tn, fp], [fn, tp]] = holdout.confusionMatrix;
  Object.assign(metrics, { holdout_tn: tn, holdout_fp: fp, holdout_fn: fn, holdout_tp: tp, onnx_max_abs_diff: verification.maxAbsDiff });
  for (const [k, v] of Object.entries(metrics)) console.log(`register: metric ${k} = ${v}`);

  const url = process.env.CAIRN_URL || DEFAULT_URL;
  const result = await registerModel(
    {
      modelName: name,
      pipeline: process.env.CAIRN_PIPELINE ?? "credit-risk",
      onnxPath: join(onnxDir, "model.onnx"),
      signature: readJson<ModelSignature>(join(onnxDir, "signature.json")),
      params: {
        l2: model.l2,
        class_weight: model.classWeight,
        threshold: model.threshold,
        folds: cv.folds,
        max_iter: cv.options.maxIter ?? 50,
        train_rows: cv.trainRows,
        holdout_rows: holdout.n,
        features: model.featureNames.length,
        newton_steps: model.iterations,
      },
      metrics,
      ...(args.has("inputs") ? { inputs: [readJson<{ dataset: string; version: number }>(args.string("inputs"))] } : {}),
      foldMetrics: Object.fromEntries(METRIC_KEYS.map((k) => [`cv_fold_${snake(k)}`, cv.perFold.map((m) => m[k])])),
      artifacts: [
        { local: args.string("cv"), dir: "metrics" },
        { local: args.string("holdout"), dir: "metrics" },
        { local: join(args.string("features"), "preprocessing.json"), dir: "preprocessing" },
        { local: join(onnxDir, "verification.json"), dir: "onnx" },
      ],
      description: `L2 logistic regression (l2 ${model.l2}, ${model.classWeight} class weights) with standardization in the graph; holdout ROC-AUC ${holdout.rocAuc.toFixed(4)}`,
    },
    url,
  );
  writeJson(args.string("out"), { ...result, at: new Date().toISOString() });
  if (result.registered && result.existing) console.log(`register: ${result.model} version ${result.version} already holds this exact model (same ONNX SHA-256); not registering it again`);
  else if (result.registered) console.log(`register: registered ${result.model} version ${result.version} (${result.status}) from run ${result.runId} (experiment ${result.experimentId}) on ${url}`);
  else console.log(`register: skipped registration: ${result.reason}`);
});
