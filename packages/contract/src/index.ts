export * from "./errors.js";
export * from "./limits.js";
export * from "./tracking.js";
export * from "./registry.js";
export * from "./promotion.js";
export * from "./auth.js";
export * from "./routes.js";
export * from "./openapi.js";
