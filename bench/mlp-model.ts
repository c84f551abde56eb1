/**
 * A model where micro-batching helps, for the serving benchmark: a multi-layer perceptron
 * (`x` [N, inputs] float32 → (MatMul + Add + Relu) × `layers` of `width` units → MatMul + Add → `score` [N, 1]), built as
 * ONNX protobuf with `onnx-proto` the way examples/credit-risk/src/onnx-export.ts builds its graph.
 *
 * Its weights are what a single row pays for: with one row, each layer is a matrix-vector product
 * that streams the whole [width × width] weight from memory for `width` multiply-adds per weight row,
 * so the run is bound by memory and by onnxruntime's per-run overhead; with 64 rows the same weights
 * feed a matrix-matrix product that the CPU's vector units keep busy, and a row costs a fraction.
 * That is the usual case for real models (dense layers, embeddings, transformers) on CPUs and GPUs.
 */
import onnxProto from "onnx-proto";
import { mulberry32 as prng } from "../packages/server/test/seeded.js";
import type { ModelSignature } from "../packages/sdk/src/index.js";

const { onnx } = onnxProto;

export const MLP_INPUT = "x";
export const MLP_OUTPUT = "score";

export interface Mlp {
  /** Input features. */
  inputs: number;
  /** Units per hidden layer. */
  width: number;
  layers: number;
  /** Per hidden layer: the weight ([inputs × width] for the first, [width × width] after; row-major, w[i * width + j] maps input i to unit j) and the bias. */
  hidden: { w: Float32Array; b: Float32Array }[];
  /** The output layer: [width × 1] and its bias. */
  out: { w: Float32Array; b: number };
}


/** Seeded weights with a He-style uniform initialisation (activations keep their scale through the Relu layers). */
export function mlpWeights(inputs: number, width: number, layers: number, seed = 42): Mlp {
  const rand = prng(seed);
  const uniform = (fanIn: number) => (rand() * 2 - 1) * Math.sqrt(6 / fanIn);
  const hidden = Array.from({ length: layers }, (_, l) => {
    const fanIn = l === 0 ? inputs : width;
    const w = new Float32Array(fanIn * width);
    for (let k = 0; k < w.length; k++) w[k] = uniform(fanIn);
    const b = Float32Array.from({ length: width }, () => (rand() - 0.5) * 0.02);
    return { w, b };
  });
  const out = { w: Float32Array.from({ length: width }, () => uniform(width)), b: 0.05 };
  return { inputs, width, layers, hidden, out };
}

function floatTensor(name: string, dims: number[], values: Float32Array | number[]): InstanceType<typeof onnx.TensorProto> {
  // rawData (little-endian float32) instead of floatData: a million weights encode fast and compactly.
  const f = values instanceof Float32Array ? values : Float32Array.from(values);
  const rawData = new Uint8Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength));
  return onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData });
}

function valueInfo(name: string, width: number): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: "N" }, { dimValue: width }] } } },
  });
}

/** The ONNX model bytes (opset 13) of an MLP. */
export function buildMlpOnnx(m: Mlp): Uint8Array {
  const node = (opType: string, inputs: string[], output: string) => onnx.NodeProto.create({ opType, input: inputs, output: [output], name: output });
  const initializer: InstanceType<typeof onnx.TensorProto>[] = [];
  const nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  let prev = MLP_INPUT;
  m.hidden.forEach((layer, l) => {
    initializer.push(floatTensor(`w${l}`, [l === 0 ? m.inputs : m.width, m.width], layer.w), floatTensor(`b${l}`, [m.width], layer.b));
    nodes.push(node("MatMul", [prev, `w${l}`], `mm${l}`), node("Add", [`mm${l}`, `b${l}`], `z${l}`), node("Relu", [`z${l}`], `h${l}`));
    prev = `h${l}`;
  });
  initializer.push(floatTensor("w_out", [m.width, 1], m.out.w), floatTensor("b_out", [1], [m.out.b]));
  nodes.push(node("MatMul", [prev, "w_out"], "mm_out"), node("Add", ["mm_out", "b_out"], MLP_OUTPUT));
  const graph = onnx.GraphProto.create({ name: "bench_mlp", input: [valueInfo(MLP_INPUT, m.inputs)], output: [valueInfo(MLP_OUTPUT, 1)], initializer, node: nodes });
  const proto = onnx.ModelProto.create({ irVersion: 7, producerName: "cairn-bench", producerVersion: "0.1.0", opsetImport: [{ domain: "", version: 13 }], graph });
  return onnx.ModelProto.encode(proto).finish();
}

/** The MLP's Cairn signature (dynamic batch dimension). */
export function mlpSignature(inputs: number): ModelSignature {
  return { inputs: [{ name: MLP_INPUT, dtype: "float32", shape: [-1, inputs] }], outputs: [{ name: MLP_OUTPUT, dtype: "float32", shape: [-1, 1] }] };
}

/** The reference forward pass of one row in float64 JavaScript, to check what onnxruntime (and the server) return. */
export function mlpForward(m: Mlp, x: readonly number[]): number {
  let h = Float64Array.from(x);
  for (const { w, b } of m.hidden) {
    const next = new Float64Array(m.width);
    for (let j = 0; j < m.width; j++) next[j] = b[j]!;
    for (let i = 0; i < h.length; i++) {
      const xi = h[i]!;
      if (xi === 0) continue;
      const rowOff = i * m.width;
      for (let j = 0; j < m.width; j++) next[j] = next[j]! + xi * w[rowOff + j]!;
    }
    for (let j = 0; j < m.width; j++) next[j] = Math.max(0, next[j]!);
    h = next;
  }
  let s = m.out.b;
  for (let i = 0; i < m.width; i++) s += h[i]! * m.out.w[i]!;
  return s;
}

/** A deterministic input row (3 decimals, so its JSON is what a client would send). */
export function mlpRow(inputs: number, seed = 0): number[] {
  return Array.from({ length: inputs }, (_, i) => Math.round(Math.sin(i * 1.7 + seed) * 1000) / 1000);
}
