import { CairnError } from "@cairn/contract";
import type { z } from "zod";

/**
 * Parses input with a zod schema, turning every problem into one INVALID_PARAMETER_VALUE
 * error that names each offending field.
 * @throws CairnError INVALID_PARAMETER_VALUE
 */
export function validate<S extends z.ZodType>(schema: S, input: unknown, where: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const details = r.error.issues.map((i) => ({ path: [where, ...i.path.map(String)].join("."), message: i.message }));
  const summary = details.slice(0, 3).map((d) => `${d.path}: ${d.message}`).join("; ");
  throw new CairnError("INVALID_PARAMETER_VALUE", `Invalid request: ${summary}${details.length > 3 ? ` (and ${details.length - 3} more)` : ""}`, { details });
}
