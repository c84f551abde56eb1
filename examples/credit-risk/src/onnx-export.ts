/**
 * Exports the model with its preprocessing as an ONNX graph (built with the `onnx-proto`
 * protobuf types) and checks it against the TypeScript model with onnxruntime.
 *
 * Graph (opset 13):
 * `features` [N, D] float32 → Sub(offset) → Div(scale) → MatMul(weights [D, 1]) → Add(bias) →
 * Sigmoid → `probability` [N, 1] float32; GreaterOrEqual(threshold) → Cast(int64) → `label` [N, 1].
 * `features` holds the numeric columns unscaled and the categorical columns one-hot, in the
 * preprocessing spec's `featureNames` order (`encodeRow`).
 */
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import type { ModelSignature } from "@cairn/sdk";
import type { PreprocessingSpec } from "./features.js";
import type { LogisticModel } from "./logistic-regression.js";

const { onnx } = onnxProto;

/** The ONNX opset the graph uses (GreaterOrEqual needs 12 or later). */
export const OPSET = 13;
export const INPUT_NAME = "features";
export const PROBABILITY_NAME = "probability";
export const LABEL_NAME = "label";

function floatTensor(name: string, dims: number[], values: readonly number[]): InstanceType<typeof onnx.TensorProto> {
  return onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: [...values] });
}

function valueInfo(name: string, elemType: number, width: number): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType, shape: { dim: [{ dimParam: "N" }, { dimValue: width }] } } },
  });
}

/**
 * Builds the ONNX model bytes for a fitted model and its preprocessing spec.
 * @throws Error when the model and the spec disagree on the number of features
 */
export function buildOnnxModel(model: LogisticModel, spec: PreprocessingSpec, threshold: number): Uint8Array {
  const d = spec.featureNames.length;
  if (model.weights.length !== d) throw new Error(`the model has ${model.weights.length} weights but the spec ${d} features`);
  const node = (opType: string, inputs: string[], output: string, attribute: InstanceType<typeof onnx.AttributeProto>[] = []) =>
    onnx.NodeProto.create({ opType, input: inputs, output: [output], name: output, attribute });
  const graph = onnx.GraphProto.create({
    name: "credit_risk_logreg",
    input: [valueInfo(INPUT_NAME, onnx.TensorProto.DataType.FLOAT, d)],
    output: [valueInfo(PROBABILITY_NAME, onnx.TensorProto.DataType.FLOAT, 1), valueInfo(LABEL_NAME, onnx.TensorProto.DataType.INT64, 1)],
    initializer: [
      floatTensor("offset", [d], spec.offset),
      floatTensor("scale", [d], spec.scale),
      floatTensor("weights", [d, 1], model.weights),
      floatTensor("bias", [1], [model.bias]),
      floatTensor("threshold", [], [threshold]),
    ],
    node: [
      node("Sub", [INPUT_NAME, "offset"], "centered"),
      node("Div", ["centered", "scale"], "standardized"),
      node("MatMul", ["standardized", "weights"], "linear"),
      node("Add", ["linear", "bias"], "logit"),
      node("Sigmoid", ["logit"], PROBABILITY_NAME),
      node("GreaterOrEqual", [PROBABILITY_NAME, "threshold"], "is_default"),
      node("Cast", ["is_default"], LABEL_NAME, [onnx.AttributeProto.create({ name: "to", type: onnx.AttributeProto.AttributeType.INT, i: onnx.TensorProto.DataType.INT64 })]),
    ],
  });
  const proto = onnx.ModelProto.create({
    irVersion: 7,
    producerName: "cairn-example-credit-risk",
    producerVersion: "0.1.0",
    opsetImport: [{ domain: "", version: OPSET }],
    graph,
    metadataProps: [
      { key: "feature_names", value: JSON.stringify(spec.featureNames) },
      { key: "input_contract", value: "features[N, D] float32: numeric columns unscaled, then categorical columns one-hot, in feature_names order" },
      { key: "threshold", value: String(threshold) },
    ],
  });
  return onnx.ModelProto.encode(proto).finish();
}

/** The model's Cairn signature (dynamic batch dimension). */
export function onnxSignature(featureCount: number): ModelSignature {
  return {
    inputs: [{ name: INPUT_NAME, dtype: "float32", shape: [-1, featureCount] }],
    outputs: [
      { name: PROBABILITY_NAME, dtype: "float32", shape: [-1, 1] },
      { name: LABEL_NAME, dtype: "int64", shape: [-1, 1] },
    ],
  };
}

/** What `runOnnx` returned for a batch. */
export interface OnnxOutputs {
  probability: Float32Array;
  label: BigInt64Array;
}

/**
 * Runs the ONNX model with onnxruntime on an unscaled encoded matrix (n × d, row-major).
 * @throws the runtime's error when the model does not load or run
 */
export async function runOnnx(modelBytes: Uint8Array, x: Float64Array, n: number, d: number): Promise<OnnxOutputs> {
  const session = await ort.InferenceSession.create(modelBytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const out = await session.run({ [INPUT_NAME]: new ort.Tensor("float32", Float32Array.from(x), [n, d]) });
    const prob = out[PROBABILITY_NAME];
    const label = out[LABEL_NAME];
    if (!prob || !label) throw new Error(`the ONNX model did not return ${PROBABILITY_NAME} and ${LABEL_NAME}`);
    if (prob.dims.join(",") !== `${n},1`) throw new Error(`${PROBABILITY_NAME} has shape [${prob.dims.join(", ")}], expected [${n}, 1]`);
    return { probability: prob.data as Float32Array, label: label.data as BigInt64Array };
  } finally {
    await session.release();
  }
}

/** How the ONNX outputs compared with the TypeScript model's. */
export interface Verification {
  passed: boolean;
  rows: number;
  tolerance: number;
  maxAbsDiff: number;
  /** Rows whose labels differ, not counting rows within the tolerance of the threshold. */
  labelMismatches: number;
}

/**
 * Compares ONNX probabilities and labels with the TypeScript model's probabilities.
 * Labels are compared only where the probability is farther than `tolerance` from the threshold,
 * since float32 rounding may legitimately flip a row that sits on it.
 */
export function compareOutputs(expected: Float64Array, got: OnnxOutputs, threshold: number, tolerance: number): Verification {
  let maxAbsDiff = 0;
  let labelMismatches = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] ?? 0;
    const g = got.probability[i];
    // A missing or NaN output must fail the check, not vanish from the maximum.
    maxAbsDiff = Math.max(maxAbsDiff, g === undefined || Number.isNaN(g) ? Infinity : Math.abs(e - g));
    const tsLabel = e >= threshold ? 1n : 0n;
    if (Math.abs(e - threshold) > tolerance && got.label[i] !== tsLabel) labelMismatches++;
  }
  const passed = expected.length === got.probability.length && maxAbsDiff < tolerance && labelMismatches === 0;
  return { passed, rows: expected.length, tolerance, maxAbsDiff, labelMismatches };
}
