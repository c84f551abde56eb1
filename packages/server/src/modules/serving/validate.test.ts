import { describe, expect, it } from "vitest";
import { CairnError, type ModelSignature } from "@cairn/contract";
import { batchSize, checkInputs } from "./validate.js";
import type { Tensor } from "./tensor.js";

function errorOf(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CairnError);
    return e as CairnError;
  }
  throw new Error("expected a CairnError");
}

const sig: ModelSignature = {
  inputs: [
    { name: "features", dtype: "float32", shape: [-1, 3] },
    { name: "ids", dtype: "int64", shape: [-1] },
    { name: "table", dtype: "float16", shape: [2, 2] },
    { name: "mask", dtype: "bool", shape: [-1, 3], optional: true },
  ],
  outputs: [{ name: "y", dtype: "float32", shape: [-1] }],
};

const features = (rows = 2, data: Float32Array = new Float32Array(rows * 3)): Tensor => ({ name: "features", datatype: "FP32", shape: [rows, 3], data });
const ids = (rows = 2): Tensor => ({ name: "ids", datatype: "INT64", shape: [rows], data: new BigInt64Array(rows) });
const table = (data = new Uint16Array([0x3c00, 0, 0, 0x3c00])): Tensor => ({ name: "table", datatype: "FP16", shape: [2, 2], data });
const mask = (rows = 2): Tensor => ({ name: "mask", datatype: "BOOL", shape: [rows, 3], data: new Uint8Array(rows * 3) });

const messageOf = (inputs: Tensor[], opts?: { allowNaN?: boolean }) => {
  const e = errorOf(() => checkInputs(inputs, sig, opts));
  expect(e.code).toBe("INVALID_PARAMETER_VALUE");
  return e.message;
};

describe("checkInputs", () => {
  it("returns the inputs in the signature's order, optional ones only when sent", () => {
    const f = features();
    const i = ids();
    const t = table();
    const m = mask();
    expect(checkInputs([t, i, f], sig)).toEqual([f, i, t]);
    expect(checkInputs([m, t, i, f], sig)).toEqual([f, i, t, m]);
    expect(checkInputs([t, i, f], sig)[0]).toBe(f);
  });

  it("refuses a missing required input", () => {
    expect(messageOf([features(), table()])).toBe("missing required input 'ids' (int64 [-1])");
  });

  it("refuses an unknown input", () => {
    expect(messageOf([features(), ids(), table(), { name: "extra", datatype: "FP32", shape: [1], data: new Float32Array(1) }])).toBe(
      "unknown input 'extra'; the signature's inputs are: 'features', 'ids', 'table', 'mask'",
    );
  });

  it("refuses a repeated input", () => {
    expect(messageOf([features(), features(), ids(), table()])).toBe("input 'features' appears more than once");
  });

  it("refuses a datatype that is not exactly the spec's", () => {
    expect(messageOf([{ name: "features", datatype: "FP64", shape: [2, 3], data: new Float64Array(6) }, ids(), table()])).toBe("input 'features': expected datatype FP32 (float32), got FP64");
    expect(messageOf([features(), { name: "ids", datatype: "INT32", shape: [2], data: new Int32Array(2) }, table()])).toBe("input 'ids': expected datatype INT64 (int64), got INT32");
  });

  it("refuses a rank mismatch", () => {
    expect(messageOf([{ name: "features", datatype: "FP32", shape: [6], data: new Float32Array(6) }, ids(), table()])).toBe("input 'features': expected 2 dimensions (shape [-1, 3]), got shape [6]");
  });

  it("refuses a fixed dimension that differs, and accepts any size where the spec has -1", () => {
    expect(messageOf([{ name: "features", datatype: "FP32", shape: [3, 2], data: new Float32Array(6) }, ids(3), table()])).toBe("input 'features': dimension 1 must be 3 (shape [-1, 3]), got shape [3, 2]");
    expect(messageOf([features(), ids(), { name: "table", datatype: "FP16", shape: [1, 4], data: new Uint16Array(4) }])).toBe("input 'table': dimension 0 must be 2 (shape [2, 2]), got shape [1, 4]");
    expect(checkInputs([features(7), ids(7), table()], sig)).toHaveLength(3);
    expect(checkInputs([features(0), ids(0), table()], sig)).toHaveLength(3);
  });

  it("refuses data that does not fill the shape", () => {
    expect(messageOf([features(2, new Float32Array(5)), ids(), table()])).toBe("input 'features': 5 values do not fill shape [2, 3]");
  });

  it("refuses NaN in float inputs unless allowed, Infinity passes", () => {
    const nan = new Float32Array([1, 2, 3, 4, NaN, 6]);
    expect(messageOf([features(2, nan), ids(), table()])).toBe("input 'features': value 4 is NaN, which this model does not accept");
    expect(checkInputs([features(2, nan), ids(), table()], sig, { allowNaN: true })).toHaveLength(3);
    expect(checkInputs([features(2, new Float32Array([Infinity, -Infinity, 0, 0, 0, 0])), ids(), table()], sig)).toHaveLength(3);
  });

  it("finds NaN in FP16 bit patterns and FP64", () => {
    expect(messageOf([features(), ids(), table(new Uint16Array([0x3c00, 0x7c00, 0xfe00, 0]))])).toBe("input 'table': value 2 is NaN, which this model does not accept");
    expect(checkInputs([features(), ids(), table(new Uint16Array([0x7c00, 0xfc00, 0x7bff, 0]))], sig)).toHaveLength(3);
    const s64: ModelSignature = { inputs: [{ name: "x", dtype: "float64", shape: [-1] }], outputs: [] };
    expect(errorOf(() => checkInputs([{ name: "x", datatype: "FP64", shape: [2], data: new Float64Array([0, NaN]) }], s64)).message).toBe("input 'x': value 1 is NaN, which this model does not accept");
  });

  it("refuses batched inputs that disagree on the first dimension, ignoring fixed ones", () => {
    expect(messageOf([features(2), ids(3), table()])).toBe("inputs disagree on the batch size (first dimension): 'features' has 2, 'ids' has 3");
    expect(messageOf([features(2), ids(2), table(), mask(4)])).toBe("inputs disagree on the batch size (first dimension): 'features' has 2, 'mask' has 4");
    // 'table' has a fixed first dimension of 2 and the batch is 5: not a conflict.
    expect(checkInputs([features(5), ids(5), table()], sig)).toHaveLength(3);
  });

  it("accepts scalar inputs", () => {
    const s: ModelSignature = { inputs: [{ name: "t", dtype: "float32", shape: [] }, { name: "x", dtype: "string", shape: [-1] }], outputs: [] };
    const inputs: Tensor[] = [{ name: "x", datatype: "BYTES", shape: [2], data: ["a", "b"] }, { name: "t", datatype: "FP32", shape: [], data: new Float32Array([0.5]) }];
    expect(checkInputs(inputs, s).map((t) => t.name)).toEqual(["t", "x"]);
  });
});

describe("batchSize", () => {
  it("gives the shared first dimension", () => {
    expect(batchSize([features(4), ids(4)])).toBe(4);
    expect(batchSize([{ name: "s", datatype: "FP32", shape: [], data: new Float32Array(1) }, ids(3)])).toBe(3);
    expect(batchSize([{ name: "s", datatype: "FP32", shape: [], data: new Float32Array(1) }])).toBeUndefined();
    expect(batchSize([])).toBeUndefined();
  });

  it("counts only dynamic first dimensions when given the signature", () => {
    expect(batchSize([features(5), table()], sig)).toBe(5);
    expect(batchSize([table()], sig)).toBeUndefined();
    expect(errorOf(() => batchSize([features(5), table()])).message).toBe("inputs disagree on the batch size (first dimension): 'features' has 5, 'table' has 2");
  });
});
