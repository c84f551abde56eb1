import fs from "node:fs";
import path from "node:path";
import { buildOnnxModel } from "../examples/credit-risk/src/onnx-export.js";
import type { LogisticModel } from "../examples/credit-risk/src/logistic-regression.js";
import type { PreprocessingSpec } from "../examples/credit-risk/src/features.js";

/**
 * Writes `dir/name`: the credit-risk example's ONNX logistic regression with these weights on
 * unscaled features (p = sigmoid(w·x + b), label = p ≥ 0.5), for tests that serve a real model.
 */
export function logisticOnnxFile(dir: string, weights: number[], bias: number, name: string): string {
  const spec = { featureNames: weights.map((_, i) => `f${i}`), offset: weights.map(() => 0), scale: weights.map(() => 1) } as unknown as PreprocessingSpec;
  const file = path.join(dir, name);
  fs.writeFileSync(file, buildOnnxModel({ weights, bias } as unknown as LogisticModel, spec, 0.5));
  return file;
}
