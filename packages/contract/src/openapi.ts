import { z } from "zod";
import { BINARY, PATH_PARAM, type RouteDef } from "./routes.js";
import { ERROR_HTTP_STATUS, ErrorBody } from "./errors.js";

function schema(s: z.ZodType, io: "input" | "output"): unknown {
  return z.toJSONSchema(s, { io, unrepresentable: "any", target: "openapi-3.0" });
}

/**
 * Builds the OpenAPI 3.0 document for a route table, straight from its zod schemas.
 * @example buildOpenApi(apiRoutes, { title: "Cairn", version: "0.1.0" })
 */
export function buildOpenApi(routes: Record<string, RouteDef>, info: { title: string; version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [operationId, r] of Object.entries(routes)) {
    const oaPath = r.path.replace(PATH_PARAM, "{$1}").replace(/\*$/, "{path}");
    const parameters: unknown[] = [];
    if (r.params) {
      for (const [name, s] of Object.entries(r.params.shape)) {
        parameters.push({ name: name === "*" ? "path" : name, in: "path", required: true, schema: schema(s as z.ZodType, "input") });
      }
    }
    if (r.query) {
      for (const [name, s] of Object.entries(r.query.shape)) {
        parameters.push({ name, in: "query", required: !(s as z.ZodType).safeParse(undefined).success, schema: schema(s as z.ZodType, "input") });
      }
    }
    const op: Record<string, unknown> = { operationId, summary: r.summary, tags: [r.tag], parameters };
    if (r.body === BINARY) op.requestBody = { required: true, content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } };
    else if (r.body) op.requestBody = { required: true, content: { "application/json": { schema: schema(r.body, "input") } } };
    const ok = r.response === BINARY
      ? { description: "OK", content: { [r.responseType ?? "application/octet-stream"]: { schema: { type: "string", format: "binary" } } } }
      : { description: "OK", content: { "application/json": { schema: schema(r.response, "output") } } };
    op.responses = { [String(r.status ?? 200)]: ok, default: { description: "Error", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } } };
    (paths[oaPath] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: "3.0.3",
    info: { ...info, description: `Error codes and their HTTP statuses: ${Object.entries(ERROR_HTTP_STATUS).map(([c, s]) => `${c}=${s}`).join(", ")}` },
    paths,
    components: { schemas: { Error: schema(ErrorBody, "output") } },
  };
}
