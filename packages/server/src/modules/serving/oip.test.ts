import { describe, expect, it } from "vitest";
import { CairnError, type ModelSignature } from "@cairn/contract";
import { decodeInferRequest, encodeInferResponse, floatToHalfBits, halfBitsToFloat, MAX_REQUEST_ELEMENTS, modelMetadata, nest } from "./oip.js";
import { DATATYPES, type Datatype, type Tensor } from "./tensor.js";

function errorOf(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CairnError);
    return e as CairnError;
  }
  throw new Error("expected a CairnError");
}

const req = (inputs: unknown[], extra: Record<string, unknown> = {}) => ({ ...extra, inputs });
const one = (datatype: string, shape: number[], data: unknown, name = "x") => req([{ name, datatype, shape, data }]);

/** Sample JSON values per datatype, including each type's extremes, as a client would send them. */
const SAMPLES: Record<Datatype, unknown[]> = {
  BOOL: [true, false, true, true],
  UINT8: [0, 1, 254, 255],
  UINT16: [0, 7, 65534, 65535],
  UINT32: [0, 1, 4294967294, 4294967295],
  UINT64: [0, 9007199254740991, "18446744073709551615", "9007199254740993"],
  INT8: [-128, -1, 0, 127],
  INT16: [-32768, -2, 3, 32767],
  INT32: [-2147483648, -5, 6, 2147483647],
  INT64: ["-9223372036854775808", -9007199254740991, 42, "9223372036854775807"],
  FP16: [1, -2, 65504, 0.5],
  FP32: [1.5, -0.25, 3.4028234663852886e38, "NaN"],
  FP64: [Math.PI, -1e300, "Infinity", "-Infinity"],
  BYTES: ["a", "", "héllo", "[1,2]"],
};

describe("decodeInferRequest / encodeInferResponse", () => {
  it.each(DATATYPES)("round-trips %s", (datatype) => {
    const values = SAMPLES[datatype];
    const decoded = decodeInferRequest(one(datatype, [2, 2], values, "t"));
    expect(decoded.inputs).toHaveLength(1);
    const t = decoded.inputs[0] as Tensor;
    expect(t).toMatchObject({ name: "t", datatype, shape: [2, 2] });
    expect(t.data).toHaveLength(4);
    const res = encodeInferResponse({ modelName: "m", id: "1", outputs: [t] });
    expect(res.outputs[0]).toEqual({ name: "t", datatype, shape: [2, 2], data: values });
  });

  it("stores each datatype in its typed array", () => {
    const kinds: Record<Datatype, unknown> = {
      BOOL: Uint8Array,
      UINT8: Uint8Array,
      UINT16: Uint16Array,
      UINT32: Uint32Array,
      UINT64: BigUint64Array,
      INT8: Int8Array,
      INT16: Int16Array,
      INT32: Int32Array,
      INT64: BigInt64Array,
      FP16: Uint16Array,
      FP32: Float32Array,
      FP64: Float64Array,
      BYTES: Array,
    };
    for (const dt of DATATYPES) expect(decodeInferRequest(one(dt, [4], SAMPLES[dt])).inputs[0]?.data).toBeInstanceOf(kinds[dt]);
  });

  it("decodes 64-bit values exactly, from numbers and strings", () => {
    const t = decodeInferRequest(one("INT64", [3], ["-9223372036854775808", 5, "+7"])).inputs[0] as Tensor;
    expect(Array.from(t.data as BigInt64Array)).toEqual([-(2n ** 63n), 5n, 7n]);
    const u = decodeInferRequest(one("UINT64", [1], ["18446744073709551615"])).inputs[0] as Tensor;
    expect((u.data as BigUint64Array)[0]).toBe(2n ** 64n - 1n);
  });

  it("accepts 0/1 for BOOL and the NaN/Infinity strings for FP types", () => {
    const b = decodeInferRequest(one("BOOL", [3], [1, 0, true])).inputs[0] as Tensor;
    expect(Array.from(b.data as Uint8Array)).toEqual([1, 0, 1]);
    const f = decodeInferRequest(one("FP64", [3], ["NaN", "Infinity", "-Infinity"])).inputs[0] as Tensor;
    expect(Array.from(f.data as Float64Array)).toEqual([NaN, Infinity, -Infinity]);
    const h = decodeInferRequest(one("FP16", [3], ["NaN", "Infinity", "-Infinity"])).inputs[0] as Tensor;
    expect(Array.from(h.data as Uint16Array)).toEqual([0x7e00, 0x7c00, 0xfc00]);
  });

  it("reads nested data the same as flat data", () => {
    const flat = decodeInferRequest(one("FP32", [2, 3], [1, 2, 3, 4, 5, 6]));
    const nested = decodeInferRequest(one("FP32", [2, 3], [[1, 2, 3], [4, 5, 6]]));
    expect(nested).toEqual(flat);
    const deep = decodeInferRequest(one("INT32", [2, 1, 2], [[[1, 2]], [[3, 4]]]));
    expect(Array.from(deep.inputs[0]?.data as Int32Array)).toEqual([1, 2, 3, 4]);
  });

  it("handles scalars and empty tensors", () => {
    expect(Array.from(decodeInferRequest(one("FP64", [], [2.5])).inputs[0]?.data as Float64Array)).toEqual([2.5]);
    expect(decodeInferRequest(one("FP32", [0, 3], [])).inputs[0]?.data).toHaveLength(0);
    expect(decodeInferRequest(one("FP32", [2, 0], [[], []])).inputs[0]?.shape).toEqual([2, 0]);
  });

  it("keeps id, parameters and requested outputs", () => {
    const r = decodeInferRequest(req([{ name: "a", datatype: "INT8", shape: [1], data: [1] }], { id: "r1", parameters: { p: 1 }, outputs: [{ name: "y" }, { name: "z", parameters: {} }] }));
    expect(r.id).toBe("r1");
    expect(r.parameters).toEqual({ p: 1 });
    expect(r.outputs).toEqual(["y", "z"]);
    expect(decodeInferRequest(one("INT8", [1], [1]))).not.toHaveProperty("outputs");
  });

  it("refuses a wrong flat count, naming the input", () => {
    expect(errorOf(() => decodeInferRequest(one("FP32", [2, 3], [1, 2, 3, 4, 5], "features"))).message).toBe("input 'features': expected 6 values for shape [2, 3], got 5");
  });

  it("refuses nested data that does not match the shape exactly", () => {
    const short = errorOf(() => decodeInferRequest(one("FP32", [2, 3], [[1, 2, 3], [4, 5]], "features")));
    expect(short.code).toBe("INVALID_PARAMETER_VALUE");
    expect(short.message).toBe("input 'features': data[1] has 2 values where shape [2, 3] expects 3");
    expect(errorOf(() => decodeInferRequest(one("FP32", [3], [[1], [2], [3]]))).message).toBe("input 'x': data[0] is nested deeper than shape [3]");
    expect(errorOf(() => decodeInferRequest(one("FP32", [2, 2], [[1, 2], 3]))).message).toBe("input 'x': data[1] is 3 where shape [2, 2] expects a list of 2");
    expect(errorOf(() => decodeInferRequest(one("FP32", [3, 2], [[1, 2], [3, 4]]))).message).toBe("input 'x': data has 2 values where shape [3, 2] expects 3");
  });

  it.each([
    ["UINT8", 256, "input 'x': value 0 (256) is out of range for UINT8 (0..255)"],
    ["UINT8", -1, "input 'x': value 0 (-1) is out of range for UINT8 (0..255)"],
    ["INT8", -129, "input 'x': value 0 (-129) is out of range for INT8 (-128..127)"],
    ["INT16", 32768, "input 'x': value 0 (32768) is out of range for INT16 (-32768..32767)"],
    ["UINT16", 65536, "input 'x': value 0 (65536) is out of range for UINT16 (0..65535)"],
    ["INT32", 2147483648, "input 'x': value 0 (2147483648) is out of range for INT32 (-2147483648..2147483647)"],
    ["UINT32", 4294967296, "input 'x': value 0 (4294967296) is out of range for UINT32 (0..4294967295)"],
    ["INT64", "9223372036854775808", "input 'x': value 0 (9223372036854775808) is out of range for INT64 (-9223372036854775808..9223372036854775807)"],
    ["UINT64", -1, "input 'x': value 0 (-1) is out of range for UINT64 (0..18446744073709551615)"],
    ["UINT64", "18446744073709551616", "input 'x': value 0 (18446744073709551616) is out of range for UINT64 (0..18446744073709551615)"],
    ["INT64", 2 ** 60, "input 'x': value 0 (1152921504606847000) is beyond ±2^53 and lost precision in JSON; send it as a string for INT64"],
    ["INT32", 1.5, "input 'x': value 0 is 1.5, expected an integer for INT32"],
    ["INT32", "5", 'input \'x\': value 0 is "5", expected an integer for INT32'],
    ["INT64", "1e3", 'input \'x\': value 0 is "1e3", expected an integer (number or numeric string) for INT64'],
    ["BOOL", 2, "input 'x': value 0 is 2, expected true or false for BOOL"],
    ["BOOL", "true", 'input \'x\': value 0 is "true", expected true or false for BOOL'],
    ["FP32", "inf", 'input \'x\': value 0 is "inf", expected a number (or "NaN", "Infinity", "-Infinity") for FP32'],
    ["FP32", null, 'input \'x\': value 0 is null, expected a number (or "NaN", "Infinity", "-Infinity") for FP32'],
    ["FP32", 1e39, "input 'x': value 0 (1e+39) is out of range for FP32"],
    ["FP16", 65520, "input 'x': value 0 (65520) is out of range for FP16 (±65504)"],
    ["BYTES", 5, "input 'x': value 0 is 5, expected a string for BYTES"],
  ])("refuses %s value %j", (datatype, value, message) => {
    const e = errorOf(() => decodeInferRequest(one(datatype, [1], [value])));
    expect(e.code).toBe("INVALID_PARAMETER_VALUE");
    expect(e.message).toBe(message);
  });

  it("names the index of a bad value", () => {
    expect(errorOf(() => decodeInferRequest(one("UINT8", [2, 2], [[0, 1], [2, 300]]))).message).toBe("input 'x': value 3 (300) is out of range for UINT8 (0..255)");
  });

  it("refuses duplicate inputs and outputs", () => {
    const dupIn = req([
      { name: "a", datatype: "INT8", shape: [1], data: [1] },
      { name: "a", datatype: "INT8", shape: [1], data: [2] },
    ]);
    expect(errorOf(() => decodeInferRequest(dupIn)).message).toBe("input 'a' appears more than once");
    const dupOut = req([{ name: "a", datatype: "INT8", shape: [1], data: [1] }], { outputs: [{ name: "y" }, { name: "y" }] });
    expect(errorOf(() => decodeInferRequest(dupOut)).message).toBe("output 'y' is requested more than once");
  });

  it("refuses unknown datatypes and bad shapes", () => {
    expect(errorOf(() => decodeInferRequest(one("FLOAT", [1], [1]))).message).toMatch(/^input 'x': unknown datatype 'FLOAT'; expected one of BOOL, UINT8/);
    expect(errorOf(() => decodeInferRequest(one("FP32", [-1, 2], [1, 2]))).message).toBe("input 'x': shape [-1, 2] has an invalid dimension -1; dimensions must be integers >= 0");
    expect(errorOf(() => decodeInferRequest(one("FP32", [1.5], [1]))).code).toBe("INVALID_PARAMETER_VALUE");
    expect(errorOf(() => decodeInferRequest(one("FP32", new Array<number>(33).fill(1), [1]))).message).toBe("input 'x': shape has 33 dimensions, at most 32 are allowed");
  });

  it("bounds the work before reading any data", () => {
    const e = errorOf(() => decodeInferRequest(one("FP32", [4096, 4097], [])));
    expect(e.message).toBe(`input 'x': shape [4096, 4097] holds more than ${MAX_REQUEST_ELEMENTS} values, the most one request may carry`);
    const huge = errorOf(() => decodeInferRequest(one("FP32", [1e15, 1e15, 1e15], [])));
    expect(huge.message).toMatch(/holds more than/);
    // The limit covers all inputs together.
    const two = req([
      { name: "b", datatype: "FP32", shape: [1], data: [1] },
      { name: "a", datatype: "FP32", shape: [4096, 4096], data: [] },
    ]);
    expect(errorOf(() => decodeInferRequest(two)).message).toBe(`input 'a': shape [4096, 4096] holds more than ${MAX_REQUEST_ELEMENTS - 1} values, the most one request may carry`);
  });

  it("refuses malformed bodies with MALFORMED_REQUEST", () => {
    for (const body of [null, "x", {}, { inputs: {} }, { inputs: [{ name: "a", datatype: "FP32", shape: [1] }] }, { inputs: [{ name: "", datatype: "FP32", shape: [1], data: [1] }] }, { inputs: [], id: 5 }]) {
      const e = errorOf(() => decodeInferRequest(body));
      expect(e.code).toBe("MALFORMED_REQUEST");
      expect(e.message).toMatch(/^Malformed infer request: /);
    }
    expect(errorOf(() => decodeInferRequest({ inputs: [{ name: "a", datatype: "FP32", shape: [1] }] })).message).toMatch(/^Malformed infer request: inputs\.0\.data: /);
  });

  it("refuses Triton's binary data extension", () => {
    const body = req([{ name: "a", datatype: "FP32", shape: [1], data: [], parameters: { binary_data_size: 4 } }]);
    expect(errorOf(() => decodeInferRequest(body)).message).toBe("input 'a': binary tensor data is not supported; send the values in 'data'");
  });

  it("encodes the response envelope and non-JSON values", () => {
    const res = encodeInferResponse({
      modelName: "m",
      modelVersion: "3",
      id: "abc",
      parameters: { k: "v" },
      outputs: [
        { name: "p", datatype: "FP32", shape: [2, 2], data: new Float32Array([0.5, NaN, Infinity, -Infinity]) },
        { name: "big", datatype: "INT64", shape: [3], data: new BigInt64Array([1n, 2n ** 53n, -(2n ** 62n)]) },
        { name: "h", datatype: "FP16", shape: [2], data: new Uint16Array([0x3c00, 0x7e00]) },
        { name: "b", datatype: "BOOL", shape: [2], data: new Uint8Array([1, 0]) },
      ],
    });
    expect(res).toEqual({
      model_name: "m",
      model_version: "3",
      id: "abc",
      parameters: { k: "v" },
      outputs: [
        { name: "p", datatype: "FP32", shape: [2, 2], data: [0.5, "NaN", "Infinity", "-Infinity"] },
        { name: "big", datatype: "INT64", shape: [3], data: [1, "9007199254740992", "-4611686018427387904"] },
        { name: "h", datatype: "FP16", shape: [2], data: [1, "NaN"] },
        { name: "b", datatype: "BOOL", shape: [2], data: [true, false] },
      ],
    });
    expect(encodeInferResponse({ modelName: "m", id: "1", outputs: [] })).toEqual({ model_name: "m", id: "1", outputs: [] });
  });

  it("refuses an output whose data does not fill its shape", () => {
    const e = errorOf(() => encodeInferResponse({ modelName: "m", id: "1", outputs: [{ name: "y", datatype: "FP32", shape: [2, 2], data: new Float32Array(3) }] }));
    expect(e.code).toBe("INTERNAL_ERROR");
    expect(e.message).toBe("output 'y': 3 values do not fill shape [2, 2]");
  });
});

describe("FP16", () => {
  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [0, 0x0000],
    [-0, 0x8000],
    [0.5, 0x3800],
    [1 / 3, 0x3555],
    [2 ** -14, 0x0400],
    [2 ** -24, 0x0001],
    [3 * 2 ** -24, 0x0003],
    [2 ** -14 - 2 ** -24, 0x03ff],
    [65519, 0x7bff],
    [65520, 0x7c00],
    [2 ** -25, 0x0000],
    [1 + 2 ** -11, 0x3c00],
    [1 + 3 * 2 ** -11, 0x3c02],
    [2 ** -25 + 2 ** -40, 0x0001],
  ])("encodes %d as %i", (x, bits) => {
    expect(floatToHalfBits(x)).toBe(bits);
  });

  it("rounds values between two halves to the nearer, ties to the even pattern", () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x7bff; h++) {
      const lo = halfBitsToFloat(h);
      const hi = halfBitsToFloat(h + 1);
      const mid = (lo + hi) / 2;
      const tie = h % 2 === 0 ? h : h + 1;
      const below = lo + (hi - lo) / 4;
      const above = hi - (hi - lo) / 4;
      if (floatToHalfBits(mid) !== tie || floatToHalfBits(below) !== h || floatToHalfBits(above) !== h + 1 || floatToHalfBits(-mid) !== (tie | 0x8000)) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  it("encodes NaN as the quiet NaN", () => {
    expect(floatToHalfBits(NaN)).toBe(0x7e00);
    expect(halfBitsToFloat(0x7e00)).toBeNaN();
  });

  it("decodes every finite pattern back to itself", () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) !== 0x7c00 && floatToHalfBits(halfBitsToFloat(h)) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
    expect(halfBitsToFloat(0x0001)).toBe(2 ** -24);
    expect(halfBitsToFloat(0x7bff)).toBe(65504);
  });
});

describe("nest", () => {
  it("reshapes flat values row-major", () => {
    expect(nest([1, 2, 3, 4, 5, 6], [2, 3])).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(nest([7], [])).toBe(7);
    expect(nest([], [0, 2])).toEqual([]);
    expect(nest([], [2, 0])).toEqual([[], []]);
  });
});

describe("modelMetadata", () => {
  it("maps the signature's dtypes to datatypes and keeps -1 dimensions", () => {
    const signature: ModelSignature = {
      inputs: [
        { name: "features", dtype: "float32", shape: [-1, 24] },
        { name: "segment", dtype: "string", shape: [-1], optional: true },
      ],
      outputs: [
        { name: "probability", dtype: "float32", shape: [-1, 1] },
        { name: "label", dtype: "int64", shape: [-1, 1] },
      ],
    };
    expect(modelMetadata({ name: "credit", versions: ["1", "2"], platform: "onnxruntime_onnx", signature })).toEqual({
      name: "credit",
      versions: ["1", "2"],
      platform: "onnxruntime_onnx",
      inputs: [
        { name: "features", datatype: "FP32", shape: [-1, 24] },
        { name: "segment", datatype: "BYTES", shape: [-1] },
      ],
      outputs: [
        { name: "probability", datatype: "FP32", shape: [-1, 1] },
        { name: "label", datatype: "INT64", shape: [-1, 1] },
      ],
    });
    expect(modelMetadata({ name: "m", platform: "p" })).toEqual({ name: "m", platform: "p", inputs: [], outputs: [] });
  });
});
