/**
 * Step `train`: k-fold cross-validation of L2 logistic regression on the training rows, then a
 * final fit on all of them.
 * Usage: train.ts --features data/features --folds 5 --l2 0.001 --max-iter 50 --class-weight balanced --threshold 0.5 --seed S --model model/model.json --metrics metrics/cv.json
 */
import { join } from "node:path";
import { Args, runStep } from "../cli-args.js";
import { readCsv, readJson, writeJson } from "../csv.js";
import { datasetFromCsv, subset, type PreprocessingSpec } from "../features.js";
import { fitLogisticRegression, predictProba, type LogisticRegressionOptions } from "../logistic-regression.js";
import { complement, evaluate, meanStd, stratifiedKFold, type ClassificationMetrics } from "../metrics.js";

const SUMMARY_KEYS = ["rocAuc", "f1", "precision", "recall", "accuracy", "logLoss"] as const;

runStep("train", () => {
  const args = new Args(process.argv.slice(2));
  const dir = args.string("features");
  const folds = args.integer("folds", 2);
  const threshold = args.number("threshold", 0.5);
  const classWeight = args.string("class-weight", "balanced");
  if (classWeight !== "balanced" && classWeight !== "none") throw new Error(`--class-weight must be balanced or none, got "${classWeight}"`);
  const opts: LogisticRegressionOptions = { l2: args.number("l2"), maxIter: args.integer("max-iter", 1, 50), classWeight };
  const spec = readJson<PreprocessingSpec>(join(dir, "preprocessing.json"));
  const train = datasetFromCsv(spec, readCsv(join(dir, "train.csv")));

  const started = Date.now();
  const perFold: ClassificationMetrics[] = [];
  stratifiedKFold(train.y, folds, args.number("seed")).forEach((valIdx, k) => {
    const model = fitLogisticRegression(subset(train, complement(train.n, valIdx)), opts);
    const val = subset(train, valIdx);
    const m = evaluate(val.y, predictProba(model, val), threshold);
    perFold.push(m);
    console.log(`train: fold ${k + 1}/${folds}: auc ${m.rocAuc.toFixed(4)} f1 ${m.f1.toFixed(4)} precision ${m.precision.toFixed(4)} recall ${m.recall.toFixed(4)} (${model.iterations} Newton steps)`);
  });
  const summary = Object.fromEntries(SUMMARY_KEYS.map((k) => [k, meanStd(perFold.map((m) => m[k]))]));
  const model = fitLogisticRegression(train, opts);
  if (!model.converged) console.warn(`train: warning: the final fit did not converge in ${model.iterations} steps (gradient ${model.gradientNorm.toExponential(2)})`);

  writeJson(args.string("model"), { ...model, featureNames: spec.featureNames, threshold });
  writeJson(args.string("metrics"), { folds, threshold, options: opts, perFold, summary, trainRows: train.n, seconds: (Date.now() - started) / 1000 });
  const auc = summary.rocAuc!;
  console.log(`train: ${folds}-fold CV auc ${auc.mean.toFixed(4)} ± ${auc.std.toFixed(4)}, f1 ${summary.f1!.mean.toFixed(4)}; final fit: ${model.iterations} Newton steps, converged ${model.converged}`);
});
