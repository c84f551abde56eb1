import * as ort from "onnxruntime-node";
import { buildMlpOnnx, mlpWeights, mlpForward, mlpRow } from "./mlp-model.js";
for (const [inputs, width, layers] of [[64, 512, 3], [64, 1024, 3], [64, 1024, 4], [256, 1024, 3]] as const) {
  const m = mlpWeights(inputs, width, layers);
  const bytes = buildMlpOnnx(m);
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "all" });
  const r = mlpRow(inputs);
  const out = await s.run({ x: new ort.Tensor("float32", Float32Array.from(r), [1, inputs]) });
  const ref = mlpForward(m, r);
  const time = async (n: number, iters: number) => {
    const data = new Float32Array(n * inputs); for (let i = 0; i < n; i++) data.set(mlpRow(inputs, i), i * inputs);
    const t = new ort.Tensor("float32", data, [n, inputs]);
    for (let i = 0; i < 20; i++) await s.run({ x: t });
    const t0 = performance.now(); for (let i = 0; i < iters; i++) await s.run({ x: t }); return (performance.now() - t0) / iters;
  };
  const t1 = await time(1, 500), t8 = await time(8, 200), t64 = await time(64, 100);
  console.log({ inputs, width, layers, onnx: (out.score!.data as Float32Array)[0], ref, t1ms: t1.toFixed(3), t8ms: t8.toFixed(3), t64ms: t64.toFixed(3), perRow64us: (t64 / 64 * 1000).toFixed(1), bytesMB: (bytes.length / 1e6).toFixed(1) });
  await s.release();
}
