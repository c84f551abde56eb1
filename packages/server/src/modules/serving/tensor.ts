/**
 * Tensors as the model server handles them: an Open Inference Protocol datatype, a shape and the
 * row-major data in the typed array that datatype maps to. Shared by the protocol codecs, the
 * signature checks, the batcher and the runtimes.
 */
import { DTYPE_TO_OIP_DATATYPE, type TensorDType } from "@cairn/contract";

/** Open Inference Protocol (KServe v2) datatypes. */
export const DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"] as const;
export type Datatype = (typeof DATATYPES)[number];

/**
 * Row-major tensor data. Numbers live in the typed array of their datatype (FP16 as the raw 16-bit
 * patterns in a Uint16Array, INT64/UINT64 as BigInt64Array/BigUint64Array), BOOL in a Uint8Array of
 * 0/1, BYTES as strings.
 */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | string[];

export interface Tensor {
  name: string;
  datatype: Datatype;
  /** Every dimension ≥ 0; the product is `data.length`. */
  shape: number[];
  data: TensorData;
}

/** The number of elements a shape holds. */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** A signature dtype (registry, MLflow names) as the protocol's datatype. */
export const DTYPE_TO_DATATYPE: Record<TensorDType, Datatype> = DTYPE_TO_OIP_DATATYPE;
