/**
 * Step `featurize`: splits the validated rows into train and holdout (stratified), fits the
 * preprocessing on the training rows, and writes standardized features and the spec.
 * Usage: featurize.ts --in data/raw.csv --validation data/validation.json --holdout 0.2 --seed S --out data/features
 */
import { join } from "node:path";
import { Args, runStep } from "../cli-args.js";
import { readCsv, readJson, writeCsv, writeJson } from "../csv.js";
import { datasetCells, encodeRows, featureHeader, fitPreprocessing, rowsOf, stratifiedHoldout } from "../features.js";
import { LABEL_COLUMN } from "../schema.js";
import type { ValidationReport } from "../validate-data.js";

runStep("featurize", () => {
  const args = new Args(process.argv.slice(2));
  const input = args.string("in");
  const validation = readJson<ValidationReport>(args.string("validation"));
  // The validation report is an input so this step always follows a passing validation.
  if (!validation.ok) throw new Error(`${input} did not pass validation; see the validate step`);
  const out = args.string("out");
  const rows = rowsOf(readCsv(input));
  const labels = rows.map((r) => (r[LABEL_COLUMN] === "1" ? 1 : 0));
  const split = stratifiedHoldout(labels, args.number("holdout", 0.2), args.number("seed"));
  const trainRows = split.train.map((i) => rows[i]!);
  const holdoutRows = split.holdout.map((i) => rows[i]!);
  const spec = fitPreprocessing(trainRows);
  const header = featureHeader(spec);
  writeCsv(join(out, "train.csv"), header, datasetCells(encodeRows(spec, trainRows, true)));
  writeCsv(join(out, "holdout.csv"), header, datasetCells(encodeRows(spec, holdoutRows, true)));
  writeJson(join(out, "preprocessing.json"), spec);
  console.log(`featurize: ${trainRows.length} train rows, ${holdoutRows.length} holdout rows, ${spec.featureNames.length} features -> ${out}`);
});
