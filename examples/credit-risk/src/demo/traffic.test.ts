import { describe, expect, it } from "vitest";
import { formatCsv, parseCsv } from "../csv.js";
import { encodeRow, fitPreprocessing, rowsOf, type PreprocessingSpec } from "../features.js";
import { generateCreditData, toCells } from "../generate-data.js";
import { RAW_HEADER } from "../schema.js";
import { inputEncoding } from "./traffic.js";

describe("the demo's input encoding", () => {
  it("is the one a training run fits on data holding every category, drifted or not", () => {
    for (const drift of [0, 1]) {
      const rows = rowsOf(parseCsv(formatCsv(RAW_HEADER, toCells(generateCreditData({ rows: 5000, seed: 3, drift })))));
      const fitted = fitPreprocessing(rows);
      const ours = inputEncoding();
      expect(ours.featureNames).toEqual(fitted.featureNames);
      // Same vector for the same row: numerics unscaled, then the one-hots.
      for (const row of rows.slice(0, 50)) expect(Array.from(encodeRow(ours as PreprocessingSpec, row))).toEqual(Array.from(encodeRow(fitted, row)));
    }
  });
});
