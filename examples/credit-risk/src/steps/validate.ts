/**
 * Step `validate`: checks the raw table (schema, types, ranges, required values, 0/1 label, class
 * balance), writes the report, and fails with every problem listed when the data is bad.
 * Usage: validate.ts --in data/raw.csv --out data/validation.json [--min-positive-rate 0.02] [--max-positive-rate 0.5]
 */
import { Args, runStep } from "../cli-args.js";
import { readCsv, writeJson } from "../csv.js";
import { validateCreditTable } from "../validate-data.js";

runStep("validate", () => {
  const args = new Args(process.argv.slice(2));
  const input = args.string("in");
  const out = args.string("out");
  const report = validateCreditTable(readCsv(input), {
    minPositiveRate: args.number("min-positive-rate", 0.02),
    maxPositiveRate: args.number("max-positive-rate", 0.5),
  });
  if (!report.ok) throw new Error(`${input} failed validation (${report.problems.length} problems):\n  ${report.problems.join("\n  ")}`);
  writeJson(out, report);
  console.log(`validate: ${input} ok: ${report.rows} rows, ${(report.positiveRate * 100).toFixed(2)}% defaults`);
});
