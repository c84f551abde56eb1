export { startServer, buildServer, VERSION, type RunningServer } from "./server.js";
export { resolveConfig, CONFIG_ENV, type ServerConfig } from "./platform/config.js";
export { TrackingService } from "./modules/tracking/service.js";
export { PipelineWorker, type WorkerOptions } from "./modules/pipelines/worker.js";
export { pushPipeline, type PushOptions } from "./modules/pipelines/remote.js";
