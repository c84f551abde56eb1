export { startServer, buildServer, VERSION, type RunningServer } from "./server.js";
export { resolveConfig, CONFIG_ENV, type ServerConfig } from "./platform/config.js";
export { TrackingService } from "./modules/tracking/service.js";
