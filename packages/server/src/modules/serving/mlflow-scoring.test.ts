import { describe, expect, it } from "vitest";
import { CairnError, type ModelSignature } from "@cairn/contract";
import { decodeScoringRequest, encodeScoringResponse } from "./mlflow-scoring.js";
import { checkInputs } from "./validate.js";
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

const D = 24;
const credit: ModelSignature = {
  inputs: [{ name: "features", dtype: "float32", shape: [-1, D] }],
  outputs: [
    { name: "probability", dtype: "float32", shape: [-1, 1] },
    { name: "label", dtype: "int64", shape: [-1, 1] },
  ],
};
const columns = Array.from({ length: D }, (_, j) => `f${j}`);
// Values exact in float32, so the expected data can be written as plain numbers.
const rows = [0, 1, 2].map((r) => columns.map((_, j) => r * 100 + j + 0.5));
const expectedFeatures: Tensor = { name: "features", datatype: "FP32", shape: [3, D], data: new Float32Array(rows.flat()) };

describe("decodeScoringRequest: credit-risk signature (features float32 [-1, 24])", () => {
  it.each([
    ["dataframe_split", { dataframe_split: { columns, data: rows } }],
    ["dataframe_split with index and no columns", { dataframe_split: { index: [7, 8, 9], data: rows } }],
    ["dataframe_records", { dataframe_records: rows.map((r) => Object.fromEntries(columns.map((c, j) => [c, r[j]]))) }],
    ["instances (rows)", { instances: rows }],
    ["instances (named)", { instances: rows.map((r) => ({ features: r })) }],
    ["inputs (list)", { inputs: rows }],
    ["inputs (named)", { inputs: { features: rows } }],
    ["dataframe_split with a features column of lists", { dataframe_split: { columns: ["features"], data: rows.map((r) => [r]) } }],
  ])("decodes %s", (_, body) => {
    const tensors = decodeScoringRequest(body, credit);
    expect(tensors).toEqual([expectedFeatures]);
    expect(checkInputs(tensors, credit)).toEqual([expectedFeatures]);
  });

  it("accepts and ignores params", () => {
    expect(decodeScoringRequest({ inputs: rows, params: { threshold: 0.5 } }, credit)).toEqual([expectedFeatures]);
  });

  it("reads null as NaN in float inputs, which the signature check refuses by default", () => {
    const data = rows.map((r) => [...r]);
    (data[1] as unknown[])[3] = null;
    const [t] = decodeScoringRequest({ dataframe_split: { columns, data } }, credit);
    expect((t?.data as Float32Array)[D + 3]).toBeNaN();
    expect(errorOf(() => checkInputs(decodeScoringRequest({ dataframe_split: { columns, data } }, credit), credit)).message).toBe(`input 'features': value ${D + 3} is NaN, which this model does not accept`);
  });

  it("lets the signature check report a wrong number of columns", () => {
    const tensors = decodeScoringRequest({ dataframe_split: { columns: columns.slice(1), data: rows.map((r) => r.slice(1)) } }, credit);
    expect(tensors[0]?.shape).toEqual([3, D - 1]);
    expect(errorOf(() => checkInputs(tensors, credit)).message).toBe(`input 'features': dimension 1 must be ${D} (shape [-1, ${D}]), got shape [3, ${D - 1}]`);
  });

  it("refuses values that do not fit the dtype, naming the input", () => {
    const data = rows.map((r) => [...r]);
    (data[0] as unknown[])[0] = "abc";
    expect(errorOf(() => decodeScoringRequest({ dataframe_split: { columns, data } }, credit)).message).toBe(
      'input \'features\': value 0 is "abc", expected a number (or "NaN", "Infinity", "-Infinity") for FP32',
    );
  });

  it("refuses ragged rows", () => {
    const e = errorOf(() => decodeScoringRequest({ instances: [rows[0], rows[1]?.slice(1)] }, credit));
    expect(e.code).toBe("INVALID_PARAMETER_VALUE");
    expect(e.message).toBe(`input 'features': instances[1] has ${D - 1} values where shape [2, ${D}] expects ${D}`);
    expect(errorOf(() => decodeScoringRequest({ inputs: [[1, 2], [3]] }, credit)).message).toBe("input 'features': inputs[1] has 1 values where shape [2, 2] expects 2");
  });

  it("refuses a dataframe row with the wrong number of values", () => {
    expect(errorOf(() => decodeScoringRequest({ dataframe_split: { columns, data: [rows[0], rows[1]?.slice(2)] } }, credit)).message).toBe(
      `dataframe_split: row 1 has ${D - 2} values but there are ${D} columns`,
    );
  });
});

describe("decodeScoringRequest: one column per input", () => {
  const sig: ModelSignature = {
    inputs: [
      { name: "age", dtype: "int64", shape: [-1] },
      { name: "income", dtype: "float64", shape: [-1, 1] },
      { name: "city", dtype: "string", shape: [-1] },
      { name: "member", dtype: "bool", shape: [-1], optional: true },
    ],
    outputs: [{ name: "score", dtype: "float32", shape: [-1] }],
  };
  const expected: Tensor[] = [
    { name: "age", datatype: "INT64", shape: [2], data: new BigInt64Array([31n, 45n]) },
    { name: "income", datatype: "FP64", shape: [2, 1], data: new Float64Array([1000.5, 2000]) },
    { name: "city", datatype: "BYTES", shape: [2], data: ["Oslo", "Lima"] },
  ];

  it.each([
    ["dataframe_split", { dataframe_split: { columns: ["age", "income", "city"], data: [[31, 1000.5, "Oslo"], [45, 2000, "Lima"]] } }],
    ["dataframe_records", { dataframe_records: [{ age: 31, income: 1000.5, city: "Oslo" }, { city: "Lima", income: 2000, age: 45 }] }],
    ["instances", { instances: [{ age: 31, income: 1000.5, city: "Oslo" }, { age: 45, income: 2000, city: "Lima" }] }],
    ["inputs", { inputs: { age: [31, 45], income: [[1000.5], [2000]], city: ["Oslo", "Lima"] } }],
  ])("decodes %s into one tensor per column", (_, body) => {
    expect(decodeScoringRequest(body, sig)).toEqual(expected);
    expect(checkInputs(decodeScoringRequest(body, sig), sig)).toEqual(expected);
  });

  it("orders columns as the signature does after the check", () => {
    const tensors = decodeScoringRequest({ dataframe_split: { columns: ["city", "member", "age", "income"], data: [["Oslo", true, 31, 1000.5]] } }, sig);
    expect(tensors.map((t) => t.name)).toEqual(["city", "member", "age", "income"]);
    expect(checkInputs(tensors, sig).map((t) => t.name)).toEqual(["age", "income", "city", "member"]);
  });

  it("refuses columns that name no input when there are several inputs", () => {
    const e = errorOf(() => decodeScoringRequest({ dataframe_split: { columns: ["age", "zip"], data: [[1, 2]] } }, sig));
    expect(e.code).toBe("INVALID_PARAMETER_VALUE");
    expect(e.message).toBe("dataframe_split: columns 'zip' do not name inputs of the signature ('age', 'income', 'city', 'member'); with several inputs each column must be named like one");
  });

  it("refuses unknown names in instances and inputs", () => {
    const msg = "unknown input 'zip'; the signature's inputs are: 'age', 'income', 'city', 'member'";
    expect(errorOf(() => decodeScoringRequest({ instances: [{ zip: 1 }] }, sig)).message).toBe(msg);
    expect(errorOf(() => decodeScoringRequest({ inputs: { zip: [1] } }, sig)).message).toBe(msg);
  });

  it("refuses an instance that lacks an input the others have", () => {
    expect(errorOf(() => decodeScoringRequest({ instances: [{ age: 1, city: "a" }, { age: 2 }] }, sig)).message).toBe("instances[1] has no value for input 'city'");
  });

  it("refuses unnamed rows for a multi-input signature", () => {
    expect(errorOf(() => decodeScoringRequest({ instances: [[1, 2]] }, sig)).message).toMatch(/^instances as a list of rows needs a signature with exactly one input, this one has 4/);
    expect(errorOf(() => decodeScoringRequest({ inputs: [[1, 2]] }, sig)).message).toMatch(/^inputs as a list of rows needs a signature with exactly one input/);
  });

  it("refuses integers that do not fit, naming the input", () => {
    expect(errorOf(() => decodeScoringRequest({ inputs: { age: [1.5] } }, sig)).message).toBe("input 'age': value 0 is 1.5, expected an integer for INT64");
  });
});

describe("decodeScoringRequest: single rank-1 input", () => {
  const sig: ModelSignature = { inputs: [{ name: "text", dtype: "string", shape: [-1] }], outputs: [] };

  it("takes a lone column whatever its name", () => {
    expect(decodeScoringRequest({ dataframe_split: { columns: ["review"], data: [["good"], ["bad"]] } }, sig)).toEqual([{ name: "text", datatype: "BYTES", shape: [2], data: ["good", "bad"] }]);
  });

  it("takes scalar instances", () => {
    expect(decodeScoringRequest({ instances: ["a", "b", "c"] }, sig)).toEqual([{ name: "text", datatype: "BYTES", shape: [3], data: ["a", "b", "c"] }]);
  });
});

describe("decodeScoringRequest: malformed bodies", () => {
  it.each([
    [null, /^The scoring request must be a JSON object/],
    [[1, 2], /^The scoring request must be a JSON object/],
    [{}, /^The scoring request must have exactly one of dataframe_split, dataframe_records, instances, inputs \(and optionally params\); got no keys$/],
    [{ inputs: [], instances: [] }, /got 'inputs', 'instances'$/],
    [{ data: [] }, /got 'data'$/],
    [{ dataframe_split: [] }, /^dataframe_split must be an object/],
    [{ dataframe_split: { columns: ["a"] } }, /^dataframe_split.data must be a list of rows/],
    [{ dataframe_split: { data: [1] } }, /^dataframe_split.data\[0\] must be a list of values/],
    [{ dataframe_split: { columns: "a", data: [] } }, /^dataframe_split.columns must be a list/],
    [{ dataframe_records: {} }, /^dataframe_records must be a list/],
    [{ dataframe_records: [1] }, /^dataframe_records\[0\] must be an object/],
    [{ instances: {} }, /^instances must be a list/],
    [{ instances: [{ features: [1] }, [1]] }, /^instances\[1\] must be an object like instances\[0\]/],
    [{ inputs: "x" }, /^inputs must be an object/],
  ])("refuses %j", (body, message) => {
    const e = errorOf(() => decodeScoringRequest(body, credit));
    expect(e.code).toBe("MALFORMED_REQUEST");
    expect(e.message).toMatch(message);
  });

  it("refuses empty instances and duplicate columns", () => {
    expect(errorOf(() => decodeScoringRequest({ instances: [] }, credit)).message).toBe("instances is empty");
    expect(errorOf(() => decodeScoringRequest({ dataframe_split: { columns: ["a", "a"], data: [] } }, credit)).message).toBe("dataframe_split: column 'a' appears more than once");
  });

  it("bounds the work before reading values", () => {
    // Shared row references: the body would be huge as JSON, but is cheap to build here.
    const row = new Array<number>(5000).fill(0);
    const big = new Array<unknown>(40).fill(new Array<unknown>(100).fill(row));
    const e = errorOf(() => decodeScoringRequest({ inputs: big }, credit));
    expect(e.message).toBe("input 'features': shape [40, 100, 5000] holds more than 16777216 values, the most one request may carry");
  });
});

describe("encodeScoringResponse", () => {
  it("gives one output's rows nested by its shape", () => {
    expect(encodeScoringResponse([{ name: "probability", datatype: "FP32", shape: [2, 1], data: new Float32Array([0.25, 0.75]) }])).toEqual({ predictions: [[0.25], [0.75]] });
    expect(encodeScoringResponse([{ name: "y", datatype: "INT64", shape: [3], data: new BigInt64Array([1n, 0n, 2n ** 60n]) }])).toEqual({ predictions: [1, 0, "1152921504606846976"] });
    expect(encodeScoringResponse([{ name: "y", datatype: "FP64", shape: [], data: new Float64Array([NaN]) }])).toEqual({ predictions: "NaN" });
  });

  it("gives several outputs as per-row objects (credit-risk outputs)", () => {
    const outputs: Tensor[] = [
      { name: "probability", datatype: "FP32", shape: [3, 1], data: new Float32Array([0.125, 0.5, 0.875]) },
      { name: "label", datatype: "INT64", shape: [3, 1], data: new BigInt64Array([0n, 1n, 1n]) },
      { name: "scores", datatype: "FP16", shape: [3, 2], data: new Uint16Array([0x3c00, 0x0000, 0x3800, 0x3800, 0x0000, 0x3c00]) },
      { name: "flag", datatype: "BOOL", shape: [3], data: new Uint8Array([1, 0, 0]) },
    ];
    expect(encodeScoringResponse(outputs)).toEqual({
      predictions: [
        { probability: 0.125, label: 0, scores: [1, 0], flag: true },
        { probability: 0.5, label: 1, scores: [0.5, 0.5], flag: false },
        { probability: 0.875, label: 1, scores: [0, 1], flag: false },
      ],
    });
  });

  it("gives outputs without a shared first dimension as an object of arrays", () => {
    const outputs: Tensor[] = [
      { name: "a", datatype: "FP32", shape: [2], data: new Float32Array([1, 2]) },
      { name: "b", datatype: "BYTES", shape: [1], data: ["x"] },
    ];
    expect(encodeScoringResponse(outputs)).toEqual({ predictions: { a: [1, 2], b: ["x"] } });
  });

  it("gives an empty list without outputs", () => {
    expect(encodeScoringResponse([])).toEqual({ predictions: [] });
  });
});
