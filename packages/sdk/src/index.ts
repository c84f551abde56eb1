/**
 * The Cairn SDK for Node: experiments, runs with background batched logging, artifacts, the model registry.
 * Browser code should import `@cairn/sdk/core` (the low-level `ApiClient`) instead.
 */
export * from "./core.js";
export { Cairn, DEFAULT_URL, type CairnOptions, type StartRunOptions } from "./cairn.js";
export { Run, type LogInput } from "./run.js";
export { Experiments, type CreateExperimentOptions, type SearchExperimentsOptions, type ExperimentsPage } from "./experiments.js";
export { Runs, type SearchRunsOptions, type RunsPage, type RunPatch, type RunBatch } from "./runs.js";
export {
  Models,
  parseModelUri,
  type CreateModelOptions,
  type SearchModelsOptions,
  type ModelsPage,
  type ModelVersionsPage,
  type CreateModelVersionOptions,
  type AliasHistory,
  type ComparedVersion,
  type ModelUri,
  type DownloadedModel,
} from "./models.js";
export {
  Datasets,
  parseDatasetRef,
  versionRefOf,
  copyVersion,
  defaultCacheDir,
  cachedBlobPath,
  type DatasetRef,
  type CreateDatasetOptions,
  type DatasetsPage,
  type DatasetVersionsPage,
  type DatasetFilesPage,
  type UploadVersionOptions,
  type UploadedVersion,
  type LinkMode,
  type MaterializeOptions,
  type MaterializedVersion,
  type UseOptions,
  type CopiedVersion,
  type WithDatasets,
} from "./datasets.js";
export { Promotions, type ListPromotionsOptions } from "./promotions.js";
export { Deployments, type InferTensor, type InferRequest, type InferResponse, type Prediction, type PredictOptions, type WaitOptions, type DeploymentHistoryPage, type DeploymentChange, type DeploymentCreateSpec } from "./deployments.js";
export type { Deployment, DeploymentSpec, ArmStatus, ArmRef, DeploymentAction, DeploymentHistoryEntry, DeploymentRevisionState, DeploymentStats } from "@cairn/contract";
export { DEPLOYMENT_LIMITS } from "@cairn/contract";
export { Monitoring, type PostFeedbackOptions, type PerformanceOptions, type DriftFile, type DriftFilesOptions } from "./monitoring.js";
export type { FeedbackLabel, FeedbackRecord, PostFeedbackResponse, PerformanceTask, PerformanceResponse, PerformanceWindow, ClassificationMetrics, RegressionMetrics, CalibrationBin } from "@cairn/contract";
export { MONITORING_LIMITS } from "@cairn/contract";
export { writeModelPackage, resolveModelSource, renderModelManifest, readSignatureFile, type ModelSource, type PackageOptions, type ResolvedModelSource, type LogModelOptions, type LoggedModel } from "./packaging.js";
export { Artifacts, joinArtifactPath, type TransferOptions, type UploadedArtifact } from "./artifacts.js";
export { captureRunContext, CONTEXT_TAGS, type CaptureContextOptions } from "./context.js";
export { BatchLogger, DEFAULT_BATCH_LIMITS, type BatchLimits } from "./batch-logger.js";
export { definePipeline, type PipelineDefinitionInput, type PipelineStep, type StepContext, type PipelineParamValue } from "./pipeline.js";
export { withRetry, isRetryable, DEFAULT_RETRY, type RetryOptions } from "./retry.js";
export { encodeMetricValue, decodeMetricValue } from "./metric-value.js";
export { CairnError, isCairnError, LIMITS, type ErrorCode, type Experiment, type RunInfo, type RunStatus, type Metric, type ArtifactEntry, type ViewType, type RegisteredModel, type ModelVersion, type ModelAlias, type AliasHistoryEntry, type ModelStage, type ModelSignature, type ModelFlavor, type TensorSpec, type TensorDType, type CompatibilityResponse, type CompatibilityFinding, type ModelCard, type ModelCardInput, type ModelCardResponse, type Retirement, type RetirementState } from "@cairn/contract";
export type { Run as RunData } from "@cairn/contract";
export type { Dataset, DatasetVersion, ManifestEntry, ManifestEntryInput, Expectation, ValidationReport, VersionDiff, TabularDiff, FileProfile, ColumnProfile, LineageGraph, LineageNode, LineageEdge, GcResponse } from "@cairn/contract";
export { DATASET_LIMITS, DATASET_URI_PREFIX } from "@cairn/contract";
export { describeGate, type Gate, type GateInput, type GateOp, type GateResult, type PromotionPolicy, type PromotionPolicyInput, type PromotionRequest, type PromotionStatus, type PromotionComment, type PolicyResponse } from "@cairn/contract";
