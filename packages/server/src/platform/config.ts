import path from "node:path";
import { pathToFileURL } from "node:url";
import { AUTH_LIMITS } from "@cairn/contract";

/** Everything the server needs to start. Each field has a CLI flag and an environment variable. */
export interface ServerConfig {
  host: string;
  port: number;
  /** Root for the embedded defaults: `<dataDir>/cairn.db` and `<dataDir>/artifacts`. */
  dataDir: string;
  /** `sqlite:///abs/path.db`, `sqlite::memory:` or `postgresql://...`. */
  backendStoreUri: string;
  /** `file:///abs/path` or `s3://bucket/prefix`. */
  artifactsUri: string;
  /** Host names a loopback-bound server also answers to (for a reverse proxy in front of it). */
  allowedHosts: string[];
  /** Static admin bearer tokens; any turns auth on. */
  authTokens: string[];
  /** Auth on: users, API tokens and project roles (`cairn server --auth`). On the first start it creates an admin token and prints it once. */
  auth: boolean;
  /** Allow listening on a non-loopback address with auth off. */
  insecure: boolean;
  /** Record every mutating request in the hash-chained audit log (default on). */
  audit: boolean;
  /** Failed authentications per client address and minute before it is locked out for a minute (0: no limit). */
  authFailureLimit: number;
  /** Largest JSON request body in bytes (413 above it). */
  bodyLimit: number;
  /** Largest upload of a file drift request (`POST /api/v1/drift`), both files together, in bytes (default 256 MiB). */
  driftUploadLimit: number;
  logLevel: string;
  /** How often deployments are brought to the stored state and followed aliases checked, in ms (default 2000). */
  deploymentSyncMs: number;
  /** onnxruntime threads per deployed model: within an operator (default 1, so requests run side by side) and across operators (default 1). */
  servingIntraOpThreads: number;
  servingInterOpThreads: number;
  /** Let deployments on this server run JS-module models (their code runs inside the server; default off). */
  deployJsModels: boolean;
  /** Hosts alert webhooks may call (`hooks.example.com`, `*.corp.internal`, `host:port`); none by default. */
  webhookAllowedHosts: string[];
  /** How often due monitors are looked for, in ms (default 5000). */
  monitorTickMs: number;
  /** Directory of the built web UI. */
  webDir: string;
}

/** Environment variable for each option. */
export const CONFIG_ENV = {
  host: "CAIRN_HOST",
  port: "CAIRN_PORT",
  dataDir: "CAIRN_DATA_DIR",
  backendStoreUri: "CAIRN_BACKEND_STORE_URI",
  artifactsUri: "CAIRN_ARTIFACTS_URI",
  allowedHosts: "CAIRN_ALLOWED_HOSTS",
  authTokens: "CAIRN_AUTH_TOKENS",
  auth: "CAIRN_AUTH",
  insecure: "CAIRN_INSECURE",
  audit: "CAIRN_AUDIT",
  authFailureLimit: "CAIRN_AUTH_FAILURE_LIMIT",
  bodyLimit: "CAIRN_BODY_LIMIT",
  driftUploadLimit: "CAIRN_DRIFT_UPLOAD_LIMIT",
  logLevel: "CAIRN_LOG_LEVEL",
  deploymentSyncMs: "CAIRN_DEPLOYMENT_SYNC_MS",
  servingIntraOpThreads: "CAIRN_SERVING_INTRA_OP_THREADS",
  servingInterOpThreads: "CAIRN_SERVING_INTER_OP_THREADS",
  deployJsModels: "CAIRN_DEPLOY_JS_MODELS",
  webhookAllowedHosts: "CAIRN_WEBHOOK_ALLOWED_HOSTS",
  monitorTickMs: "CAIRN_MONITOR_TICK_MS",
  webDir: "CAIRN_WEB_DIR",
} as const;

const DEFAULT_WEB_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../../web/dist");

/**
 * Resolves the full configuration: explicit values first, then environment variables, then defaults.
 * @throws Error when a numeric option is not a number
 */
export function resolveConfig(partial: Partial<ServerConfig> = {}, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const pick = <K extends keyof ServerConfig>(k: K): string | undefined => {
    const v = partial[k];
    if (v !== undefined && v !== null) return Array.isArray(v) ? v.join(",") : String(v);
    return env[CONFIG_ENV[k]] || undefined;
  };
  const num = (k: "port" | "bodyLimit" | "driftUploadLimit" | "authFailureLimit" | "deploymentSyncMs" | "servingIntraOpThreads" | "servingInterOpThreads" | "monitorTickMs", dflt: number): number => {
    const raw = pick(k);
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) throw new Error(`Invalid ${k}: ${raw}`);
    return n;
  };
  const bool = (k: "auth" | "insecure" | "audit" | "deployJsModels", dflt: boolean): boolean => {
    const raw = pick(k);
    if (raw === undefined) return dflt;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new Error(`Invalid ${k}: ${raw} (expected true or false)`);
  };
  const dataDir = path.resolve(pick("dataDir") ?? "./cairn-data");
  return {
    host: pick("host") ?? "127.0.0.1",
    port: num("port", 5005),
    dataDir,
    backendStoreUri: pick("backendStoreUri") ?? `sqlite://${path.join(dataDir, "cairn.db")}`,
    artifactsUri: pick("artifactsUri") ?? pathToFileURL(path.join(dataDir, "artifacts")).href,
    allowedHosts: (pick("allowedHosts") ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    authTokens: (pick("authTokens") ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    auth: bool("auth", false),
    insecure: bool("insecure", false),
    audit: bool("audit", true),
    authFailureLimit: num("authFailureLimit", AUTH_LIMITS.failedAuthLimit),
    bodyLimit: num("bodyLimit", 16 * 1024 * 1024),
    driftUploadLimit: num("driftUploadLimit", 256 * 1024 * 1024),
    logLevel: pick("logLevel") ?? "info",
    deploymentSyncMs: Math.max(100, num("deploymentSyncMs", 2000)),
    servingIntraOpThreads: Math.max(1, num("servingIntraOpThreads", 1)),
    servingInterOpThreads: Math.max(1, num("servingInterOpThreads", 1)),
    deployJsModels: bool("deployJsModels", false),
    webhookAllowedHosts: (pick("webhookAllowedHosts") ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    monitorTickMs: Math.max(100, num("monitorTickMs", 5000)),
    webDir: path.resolve(pick("webDir") ?? DEFAULT_WEB_DIR),
  };
}
