/**
 * Step `export`: writes the ONNX model (preprocessing included) and its signature, then runs it
 * with onnxruntime on the holdout rows, encoded from the raw CSV as a caller would, and fails
 * unless its probabilities match the TypeScript model's within the tolerance.
 * Usage: export-onnx.ts --raw data/raw.csv --features data/features --model model/model.json --out onnx [--tolerance 1e-5]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Args, runStep } from "../cli-args.js";
import { readCsv, readJson, writeJson } from "../csv.js";
import { datasetFromCsv, encodeRow, rowsOf, type PreprocessingSpec } from "../features.js";
import { predictProba, type LogisticModel } from "../logistic-regression.js";
import { buildOnnxModel, compareOutputs, onnxSignature, runOnnx } from "../onnx-export.js";
import { ID_COLUMN } from "../schema.js";

runStep("export", async () => {
  const args = new Args(process.argv.slice(2));
  const dir = args.string("features");
  const out = args.string("out");
  const tolerance = args.number("tolerance", 1e-5);
  const spec = readJson<PreprocessingSpec>(join(dir, "preprocessing.json"));
  const model = readJson<LogisticModel & { threshold: number }>(args.string("model"));
  const holdout = datasetFromCsv(spec, readCsv(join(dir, "holdout.csv")));

  const bytes = buildOnnxModel(model, spec, model.threshold);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "model.onnx"), bytes);
  writeJson(join(out, "signature.json"), onnxSignature(spec.featureNames.length));

  const byId = new Map(rowsOf(readCsv(args.string("raw"))).map((r) => [Number(r[ID_COLUMN]), r]));
  const d = spec.featureNames.length;
  const raw = new Float64Array(holdout.n * d);
  holdout.ids.forEach((id, i) => {
    const row = byId.get(id);
    if (!row) throw new Error(`holdout row id ${id} is not in the raw data`);
    encodeRow(spec, row, raw.subarray(i * d, (i + 1) * d));
  });
  const expected = predictProba(model, holdout);
  const verification = compareOutputs(expected, await runOnnx(bytes, raw, holdout.n, d), model.threshold, tolerance);
  writeJson(join(out, "verification.json"), verification);
  const line = `${verification.rows} holdout rows, max |onnx - ts| = ${verification.maxAbsDiff.toExponential(3)} (tolerance ${tolerance}), label mismatches ${verification.labelMismatches}`;
  if (!verification.passed) throw new Error(`ONNX verification FAILED: ${line}`);
  console.log(`export: wrote ${join(out, "model.onnx")} (${bytes.length} bytes); ONNX verification passed: ${line}`);
});
