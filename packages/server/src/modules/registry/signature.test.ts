import { describe, expect, it } from "vitest";
import type { CompatibilityFinding, ModelSignature, TensorSpec } from "@cairn/contract";
import { diffSignatures } from "./signature.js";

const t = (name: string, dtype: TensorSpec["dtype"], shape: number[], optional?: boolean): TensorSpec => (optional === undefined ? { name, dtype, shape } : { name, dtype, shape, optional });
const sig = (inputs: TensorSpec[], outputs: TensorSpec[] = [t("y", "float32", [-1])]): ModelSignature => ({ inputs, outputs });
const base = sig([t("x", "float32", [-1, 4]), t("id", "int32", [-1])]);
type Brief = Pick<CompatibilityFinding, "kind" | "field" | "breaking"> & Partial<Pick<CompatibilityFinding, "from" | "to">>;

const cases: { name: string; a: ModelSignature | null; b: ModelSignature | null; compatible: boolean; findings: Brief[] }[] = [
  { name: "identical", a: base, b: base, compatible: true, findings: [] },
  { name: "no signature on either side", a: null, b: base, compatible: false, findings: [{ kind: "no_signature", field: "signature", breaking: false }] },
  { name: "no signature on the new side", a: base, b: null, compatible: false, findings: [{ kind: "no_signature", field: "signature", breaking: false }] },
  { name: "input removed", a: base, b: sig([t("x", "float32", [-1, 4])]), compatible: false, findings: [{ kind: "input_removed", field: "inputs.id", breaking: true }] },
  {
    name: "input renamed (one matching pair)",
    a: base,
    b: sig([t("x", "float32", [-1, 4]), t("user_id", "int32", [-1])]),
    compatible: false,
    findings: [{ kind: "input_renamed", field: "inputs.id", from: "id", to: "user_id", breaking: true }],
  },
  {
    name: "two candidates: removed + added, not a rename",
    a: base,
    b: sig([t("x", "float32", [-1, 4]), t("a", "int32", [-1]), t("b", "int32", [-1], true)]),
    compatible: false,
    findings: [
      { kind: "input_removed", field: "inputs.id", breaking: true },
      { kind: "input_added_required", field: "inputs.a", breaking: true },
      { kind: "input_added_optional", field: "inputs.b", breaking: false },
    ],
  },
  { name: "added required input", a: base, b: sig([...base.inputs, t("z", "bool", [])]), compatible: false, findings: [{ kind: "input_added_required", field: "inputs.z", breaking: true }] },
  { name: "added optional input", a: base, b: sig([...base.inputs, t("z", "bool", [], true)]), compatible: true, findings: [{ kind: "input_added_optional", field: "inputs.z", breaking: false }] },
  { name: "int32 → int64 is a safe widening", a: base, b: sig([t("x", "float32", [-1, 4]), t("id", "int64", [-1])]), compatible: true, findings: [{ kind: "dtype_changed", field: "inputs.id", from: "int32", to: "int64", breaking: false }] },
  { name: "int32 → float64 is a safe widening", a: base, b: sig([t("x", "float32", [-1, 4]), t("id", "float64", [-1])]), compatible: true, findings: [{ kind: "dtype_changed", field: "inputs.id", breaking: false }] },
  { name: "float32 → float64 is a safe widening", a: base, b: sig([t("x", "float64", [-1, 4]), t("id", "int32", [-1])]), compatible: true, findings: [{ kind: "dtype_changed", field: "inputs.x", breaking: false }] },
  { name: "float64 → float32 narrows", a: sig([t("x", "float64", [1])]), b: sig([t("x", "float32", [1])]), compatible: false, findings: [{ kind: "dtype_changed", field: "inputs.x", from: "float64", to: "float32", breaking: true }] },
  { name: "fixed dim → -1 is safe", a: base, b: sig([t("x", "float32", [-1, -1]), t("id", "int32", [-1])]), compatible: true, findings: [{ kind: "shape_changed", field: "inputs.x", from: "[-1, 4]", to: "[-1, -1]", breaking: false }] },
  { name: "-1 → fixed dim is breaking", a: base, b: sig([t("x", "float32", [8, 4]), t("id", "int32", [-1])]), compatible: false, findings: [{ kind: "shape_changed", field: "inputs.x", breaking: true }] },
  { name: "rank change is breaking", a: base, b: sig([t("x", "float32", [-1, 4, 1]), t("id", "int32", [-1])]), compatible: false, findings: [{ kind: "shape_changed", field: "inputs.x", breaking: true }] },
  { name: "input turns optional", a: base, b: sig([t("x", "float32", [-1, 4]), t("id", "int32", [-1], true)]), compatible: true, findings: [{ kind: "input_became_optional", field: "inputs.id", breaking: false }] },
  { name: "input turns required", a: sig([t("x", "float32", [1], true)]), b: sig([t("x", "float32", [1], false)]), compatible: false, findings: [{ kind: "input_became_required", field: "inputs.x", breaking: true }] },
  { name: "output removed", a: base, b: sig(base.inputs, []), compatible: false, findings: [{ kind: "output_removed", field: "outputs.y", breaking: true }] },
  { name: "output added", a: base, b: sig(base.inputs, [t("y", "float32", [-1]), t("p", "float32", [-1, 2])]), compatible: true, findings: [{ kind: "output_added", field: "outputs.p", breaking: false }] },
  { name: "outputs are never paired as renames", a: base, b: sig(base.inputs, [t("score", "float32", [-1])]), compatible: false, findings: [{ kind: "output_removed", field: "outputs.y", breaking: true }, { kind: "output_added", field: "outputs.score", breaking: false }] },
];

describe("diffSignatures", () => {
  for (const c of cases) {
    it(c.name, () => {
      const got = diffSignatures(c.a, c.b);
      expect(got.compatible).toBe(c.compatible);
      expect(got.findings).toHaveLength(c.findings.length);
      got.findings.forEach((f, i) => {
        expect(f).toMatchObject(c.findings[i]!);
        expect(f.message).toMatch(/\S/);
      });
    });
  }
});
