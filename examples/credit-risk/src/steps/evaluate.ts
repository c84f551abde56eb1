/**
 * Step `evaluate`: the final model's metrics on the holdout rows.
 * Usage: evaluate.ts --features data/features --model model/model.json --out metrics/holdout.json
 */
import { join } from "node:path";
import { Args, runStep } from "../cli-args.js";
import { readCsv, readJson, writeJson } from "../csv.js";
import { datasetFromCsv, type PreprocessingSpec } from "../features.js";
import { predictProba, type LogisticModel } from "../logistic-regression.js";
import { evaluate } from "../metrics.js";

runStep("evaluate", () => {
  const args = new Args(process.argv.slice(2));
  const dir = args.string("features");
  const spec = readJson<PreprocessingSpec>(join(dir, "preprocessing.json"));
  const model = readJson<LogisticModel & { threshold: number }>(args.string("model"));
  const holdout = datasetFromCsv(spec, readCsv(join(dir, "holdout.csv")));
  const m = evaluate(holdout.y, predictProba(model, holdout), model.threshold);
  writeJson(args.string("out"), m);
  const [[tn, fp], [fn, tp]] = m.confusionMatrix;
  console.log(
    `evaluate: holdout n ${m.n} (${m.positives} defaults): auc ${m.rocAuc.toFixed(4)} f1 ${m.f1.toFixed(4)} precision ${m.precision.toFixed(4)} ` +
      `recall ${m.recall.toFixed(4)} accuracy ${m.accuracy.toFixed(4)} log loss ${m.logLoss.toFixed(4)}`,
  );
  console.log(`evaluate: confusion (rows true, columns predicted) [[tn ${tn}, fp ${fp}], [fn ${fn}, tp ${tp}]] at threshold ${m.threshold}`);
});
