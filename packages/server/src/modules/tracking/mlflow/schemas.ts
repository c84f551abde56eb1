import { z } from "zod";
import { Id, Int64, Key, LIMITS, LogMetricItem, LogParamItem, LogTagItem, MetricValue, ViewType } from "@cairn/contract";

/**
 * Request schemas of MLflow's REST API (`service.proto`), in its snake_case JSON form.
 * 64-bit integers may arrive as numbers or strings. These feed the same services as the native API.
 */

const KeyValue = z.object({ key: Key, value: z.string() });
/** A request that names a run by `run_id` or by the legacy `run_uuid` (one object, not an intersection: cheaper on hot routes). */
function withRun<S extends z.ZodRawShape>(shape: S) {
  return z
    .object({ run_id: Id.optional(), run_uuid: Id.optional(), ...shape })
    .refine((r) => (r as { run_id?: string }).run_id ?? (r as { run_uuid?: string }).run_uuid, { message: "run_id is required", path: ["run_id"] });
}
const RunRef = withRun({});

/** MLflow's view types, by name or by enum number. */
export const MlflowViewType = z
  .union([ViewType, z.enum(["1", "2", "3"]), z.literal(1), z.literal(2), z.literal(3)])
  .transform((v) => (typeof v === "string" && !/^\d$/.test(v) ? (v as ViewType) : (["ACTIVE_ONLY", "DELETED_ONLY", "ALL"] as const)[Number(v) - 1]!));

const stringList = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]));

export const CreateExperiment = z.object({
  name: z.string(),
  artifact_location: z.string().optional(),
  tags: z.array(KeyValue).optional(),
});
export const ExperimentId = z.object({ experiment_id: Id });
export const ExperimentName = z.object({ experiment_name: z.string().min(1) });
export const SearchExperiments = z.object({
  max_results: Int64.optional(),
  page_token: z.string().optional(),
  filter: z.string().optional(),
  order_by: stringList.optional(),
  view_type: MlflowViewType.optional(),
});
export const UpdateExperiment = z.object({ experiment_id: Id, new_name: z.string() });
export const SetExperimentTag = z.object({ experiment_id: Id, key: Key, value: z.string() });
export const DeleteExperimentTag = z.object({ experiment_id: Id, key: Key });

export const CreateRun = z.object({
  experiment_id: Id.optional(),
  user_id: z.string().optional(),
  run_name: z.string().optional(),
  start_time: Int64.optional(),
  tags: z.array(KeyValue).optional(),
});
export const UpdateRun = withRun({ status: z.string().optional(), end_time: Int64.optional(), run_name: z.string().optional() });
export const RunOnly = RunRef;
export const LogMetric = withRun({ key: Key, value: MetricValue, timestamp: Int64.optional(), step: Int64.optional() });
export const LogParam = withRun(LogParamItem.shape);
export const SetTag = withRun(LogTagItem.shape);
export const DeleteTag = withRun({ key: Key });
export const LogBatch = z.object({
  run_id: Id,
  metrics: z.array(LogMetricItem).optional(),
  params: z.array(LogParamItem).optional(),
  tags: z.array(LogTagItem).optional(),
});
export const LogInputs = z.object({
  run_id: Id,
  datasets: z
    .array(
      z.object({
        tags: z.array(KeyValue).optional(),
        dataset: z.object({
          name: z.string(),
          digest: z.string(),
          source_type: z.string(),
          source: z.string(),
          schema: z.string().optional(),
          profile: z.string().optional(),
        }),
      }),
    )
    .optional(),
});
export const SearchRuns = z.object({
  experiment_ids: stringList.optional(),
  filter: z.string().optional(),
  run_view_type: MlflowViewType.optional(),
  max_results: Int64.optional(),
  order_by: stringList.optional(),
  page_token: z.string().optional(),
});
export const GetMetricHistory = withRun({ metric_key: Key, max_results: Int64.optional(), page_token: z.string().optional() });
export const GetMetricHistoryBulkInterval = z.object({
  run_ids: stringList.pipe(z.array(Id).min(1).max(100)),
  metric_key: Key,
  start_step: Int64.optional(),
  end_step: Int64.optional(),
  max_results: Int64.pipe(z.number().int().min(1).max(LIMITS.downsampleBucketsMax)).optional(),
});
export const ListArtifacts = withRun({ path: z.string().optional(), page_token: z.string().optional() });
export const ListProxiedArtifacts = z.object({ path: z.string().optional() });

export { MetricValue };
