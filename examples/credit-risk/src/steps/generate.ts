/**
 * Step `generate`: writes the synthetic credit-default table.
 * Usage: generate.ts --rows N --seed S --default-rate R [--drift D] --out data/raw.csv
 */
import { Args, runStep } from "../cli-args.js";
import { writeCsv } from "../csv.js";
import { generateCreditData, toCells } from "../generate-data.js";
import { RAW_HEADER } from "../schema.js";

runStep("generate", () => {
  const args = new Args(process.argv.slice(2));
  const rows = args.integer("rows", 1);
  const seed = args.number("seed");
  const defaultRate = args.number("default-rate", 0.15);
  const drift = args.number("drift", 0);
  const out = args.string("out");
  const data = generateCreditData({ rows, seed, defaultRate, drift });
  writeCsv(out, RAW_HEADER, toCells(data));
  const positives = data.reduce((a, r) => a + r.default, 0);
  console.log(`generate: wrote ${rows} rows to ${out} (seed ${seed}${drift ? `, drift ${drift}` : ""}); ${positives} defaults (${((positives / rows) * 100).toFixed(2)}%)`);
});
