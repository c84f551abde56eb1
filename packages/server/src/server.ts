import fs from "node:fs";
import path from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";
import { apiRoutes, buildOpenApi, CairnError, DATASET_URI_PREFIX, unlessMissing } from "@cairn/contract";
import { resolveConfig, type ServerConfig } from "./platform/config.js";
import { createLogger } from "./platform/logger.js";
import { createHttpApp, isApiPath, isLoopbackAddress } from "./platform/http/app.js";
import { openDatabase, type Database } from "./platform/db/database.js";
import { openBlobStore } from "./platform/blob/open-blob-store.js";
import type { BlobStore } from "./platform/blob/blob-store.js";
import { createTrackingStore } from "./modules/tracking/store/sql-tracking-store.js";
import { TrackingService } from "./modules/tracking/service.js";
import { registerTrackingRoutes } from "./modules/tracking/routes.js";
import { registerMlflowRoutes } from "./modules/tracking/mlflow/routes.js";
import { createRegistryStore } from "./modules/registry/store/sql-registry-store.js";
import { RegistryService } from "./modules/registry/service.js";
import { registerRegistryRoutes } from "./modules/registry/routes.js";
import { registerMlflowRegistryRoutes } from "./modules/registry/mlflow/routes.js";
import { createAuthStore } from "./modules/auth/store/sql-auth-store.js";
import { AuthService } from "./modules/auth/service.js";
import { createAuthGuard, FailedAuthLimiter } from "./modules/auth/guard.js";
import { serviceProjectLookups } from "./modules/auth/lookups.js";
import { registerAuthRoutes } from "./modules/auth/routes.js";
import { createAuditStore } from "./modules/audit/store/audit-store.js";
import { AuditLog } from "./modules/audit/service.js";
import { createAuditRecorder } from "./modules/audit/recorder.js";
import { serviceSnapshots } from "./modules/audit/snapshots.js";
import { registerAuditRoutes } from "./modules/audit/routes.js";
import { createDatasetStore } from "./modules/datasets/store/sql-dataset-store.js";
import { DatasetService } from "./modules/datasets/service.js";
import { TabularEngine } from "./modules/datasets/tabular.js";
import { LineageService, serviceLineageSources } from "./modules/datasets/lineage.js";
import { registerDatasetRoutes } from "./modules/datasets/routes.js";
import { createPipelineStore } from "./modules/pipelines/store/sql-pipeline-store.js";
import { PipelineService } from "./modules/pipelines/service.js";
import { registerPipelineRoutes } from "./modules/pipelines/routes.js";
import { createInferenceLogStore } from "./modules/serving/store/inference-log-store.js";
import { InferenceLogService } from "./modules/serving/inference-log.js";
import { registerServingRoutes } from "./modules/serving/routes.js";
import { createDeploymentStore } from "./modules/deployments/store/deployment-store.js";
import { DeploymentService } from "./modules/deployments/service.js";
import { DeploymentRuntime } from "./modules/deployments/runtime.js";
import { registryPackageSource } from "./modules/deployments/registry-source.js";
import { registerDeploymentRoutes } from "./modules/deployments/routes.js";
import { registerDeploymentDataPlane } from "./modules/deployments/data-plane.js";
import { createFeedbackStore } from "./modules/monitoring/store/feedback-store.js";
import { FeedbackService } from "./modules/monitoring/feedback.js";
import { registerMonitoringRoutes } from "./modules/monitoring/routes.js";
import { DriftService } from "./modules/monitoring/drift-service.js";
import { MonitorService } from "./modules/monitoring/monitors.js";
import { createMonitorStore } from "./modules/monitoring/store/monitor-store.js";
import { WebhookAllowList } from "./modules/monitoring/webhook.js";

import { VERSION } from "./version.js";

export { VERSION };

/** A started server. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:5005`. */
  url: string;
  config: ServerConfig;
  app: FastifyInstance;
  tracking: TrackingService;
  /** With `--auth`, the admin token created on the first start (shown once); otherwise undefined. */
  bootstrapToken?: string;
  /** Stops accepting requests, lets in-flight ones finish, then closes the stores. */
  close(): Promise<void>;
}

/**
 * Builds the application (stores, services, routes, UI) without listening.
 * @throws Error when a backend URI is invalid or a backend cannot be reached
 */
export async function buildServer(partial: Partial<ServerConfig> = {}): Promise<{ app: FastifyInstance; config: ServerConfig; tracking: TrackingService; auth: AuthService; bootstrapToken?: string; closeStores(): Promise<void> }> {
  const config = resolveConfig(partial);
  const authEnabled = config.auth || config.authTokens.length > 0;
  if (!authEnabled && !config.insecure && !isLoopbackAddress(config.host)) {
    throw new Error(`Refusing to listen on ${config.host} with auth off: anyone who can reach it could change everything. Start with --auth (or --auth-tokens), or pass --insecure to accept that.`);
  }
  const logger = createLogger(config.logLevel);
  fs.mkdirSync(config.dataDir, { recursive: true });

  let db: Database | undefined;
  let blobs: BlobStore | undefined;
  let tabular: TabularEngine | undefined;
  try {
    db = await openDatabase(config.backendStoreUri);
    blobs = await openBlobStore(config.artifactsUri);
    const store = await createTrackingStore(db);
    const tracking = new TrackingService(store, blobs);
    const registryStore = await createRegistryStore(db);
    const registry = new RegistryService(registryStore, tracking);
    // Bounded so one huge or hostile file cannot take the whole machine's memory (DuckDB spills to disk past it).
    tabular = new TabularEngine({ memoryLimit: "2GB" });
    const datasets = new DatasetService({
      store: await createDatasetStore(db),
      blobs,
      tabular,
      logger,
      matchInputsByDigest: !authEnabled,
      runExists: async (id) => (await unlessMissing(tracking.getRunInfo(id))) !== undefined,
      logInput: (runId, v, context) =>
        tracking.logInputs(runId, {
          datasets: [{ dataset: { name: v.dataset, digest: v.digest, sourceType: "cairn", source: `${DATASET_URI_PREFIX}${v.dataset}@v${v.number}` }, tags: context ? { "mlflow.data.context": context } : {} }],
        }),
    });
    tracking.onInputsLogged((runId, inputs) => datasets.linkLoggedInputs(runId, inputs));
    const pipelines = new PipelineService({ store: await createPipelineStore(db), tracking, datasets, logger });
    const inferenceLogStore = await createInferenceLogStore(db);
    const inferenceLog = new InferenceLogService(inferenceLogStore, async (name) => (await unlessMissing(registry.getModelState(name))) !== undefined);
    const deployments = new DeploymentService({
      store: await createDeploymentStore(db),
      registry,
      logger,
      syncMs: config.deploymentSyncMs,
      allowJsModels: config.deployJsModels,
      runtime: new DeploymentRuntime({
        source: registryPackageSource(registry, blobs),
        cacheDir: path.join(config.dataDir, "serving-cache"),
        runtime: { intraOpThreads: config.servingIntraOpThreads, interOpThreads: config.servingInterOpThreads, allowJsModules: config.deployJsModels },
        logger,
        sink: async (model, records) => void (await inferenceLog.append(model, records)),
      }),
    });

    const deploymentModel = async (name: string) => {
      const r = await deployments.row(name);
      return r ? { model: r.spec.model } : undefined;
    };
    const feedback = new FeedbackService({ store: await createFeedbackStore(db), deployment: deploymentModel });
    const drift = new DriftService({ tabular, log: inferenceLogStore, datasets, deployment: deploymentModel, uploadLimit: config.driftUploadLimit, profileDir: path.join(config.dataDir, "drift-profiles") });
    const monitors = new MonitorService({
      store: await createMonitorStore(db),
      drift,
      performance: (name, q) => feedback.performance(name, q),
      log: inferenceLogStore,
      deployment: deploymentModel,
      startPipeline: async (name, params, detail) => (await pipelines.startRun(name, { params, trigger: { kind: "api", detail } }, { user: "cairn-monitor" })).id,
      webhooks: new WebhookAllowList(config.webhookAllowedHosts),
      projects: { deployment: (name) => lookups.deployment(name), pipeline: (name) => lookups.experimentByName(`pipeline:${name}`) },
      logger,
      tickMs: config.monitorTickMs,
    });

    const lineage = new LineageService(datasets.store, {
      ...serviceLineageSources(tracking, registry),
      deploymentsOf: async (model, version) => (await deployments.deploymentsOf(model, version)).map((r) => ({ name: r.name, model: r.spec.model, versions: r.versions })),
      deployment: async (name) => {
        const r = await deployments.row(name);
        return r ? { name: r.name, model: r.spec.model, versions: r.versions } : undefined;
      },
    });
    const auth = new AuthService(await createAuthStore(db), config.authTokens);
    const bootstrapToken = config.auth ? await auth.bootstrapAdmin() : undefined;
    const audit = new AuditLog(await createAuditStore(db));

    const lookups = serviceProjectLookups(tracking, registry, datasets, deployments);
    const app = createHttpApp({
      bodyLimit: config.bodyLimit,
      guard: authEnabled ? createAuthGuard(auth, lookups, new FailedAuthLimiter(config.authFailureLimit)) : undefined,
      auditor: config.audit ? createAuditRecorder(audit, serviceSnapshots(tracking, registry)) : undefined,
      logger,
      loopbackOnly: isLoopbackAddress(config.host),
      allowedHosts: config.allowedHosts,
    });
    app.get("/health", async () => "OK");
    app.get("/version", async () => VERSION);
    const openapi = buildOpenApi(apiRoutes, { title: "Cairn API", version: VERSION });
    app.get("/api/v1/openapi.json", async () => openapi);
    registerTrackingRoutes(app, tracking);
    registerMlflowRoutes(app, tracking);
    registerRegistryRoutes(app, registry);
    registerMlflowRegistryRoutes(app, registry);
    registerAuthRoutes(app, auth, authEnabled);
    registerAuditRoutes(app, audit);
    registerDatasetRoutes(app, datasets, lineage, lookups);
    registerPipelineRoutes(app, pipelines);
    registerServingRoutes(app, inferenceLog);
    registerDeploymentRoutes(app, deployments);
    registerDeploymentDataPlane(app, deployments);
    registerMonitoringRoutes(app, { feedback, drift, monitors });
    await serveUi(app, config.webDir);

    pipelines.start();
    deployments.start();
    monitors.start();
    const closeStores = async () => {
      await monitors.stop();
      pipelines.stop();
      await deployments.stop();
      await tabular?.close();
      await store.close();
      await blobs?.close();
      await db?.close();
    };
    return { app, config, tracking, auth, bootstrapToken, closeStores };
  } catch (e) {
    await tabular?.close().catch(() => {});
    await blobs?.close().catch(() => {});
    await db?.close().catch(() => {});
    throw e;
  }
}

async function serveUi(app: FastifyInstance, webDir: string): Promise<void> {
  const index = path.join(webDir, "index.html");
  const hasUi = fs.existsSync(index);
  if (hasUi) await app.register(fastifyStatic, { root: webDir, prefix: "/", wildcard: false, index: ["index.html"] });
  app.setNotFoundHandler(async (req, reply) => {
    if (isApiPath(req.url) || req.method !== "GET") {
      throw new CairnError("ENDPOINT_NOT_FOUND", `No endpoint ${req.method} ${req.url.split("?")[0]}`);
    }
    if (!hasUi) {
      return reply.type("text/plain").code(404).send("The Cairn web UI is not built. Run `npm run build`, then restart the server.");
    }
    return reply.type("text/html").send(fs.createReadStream(index));
  });
}

/**
 * Starts the server and listens. Port 0 picks a free port.
 * @example const s = await startServer({ port: 0, dataDir: "/tmp/cairn" }); console.log(s.url)
 */
export async function startServer(partial: Partial<ServerConfig> = {}): Promise<RunningServer> {
  const { app, config, tracking, bootstrapToken, closeStores } = await buildServer(partial);
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (e) {
    await app.close();
    await closeStores();
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : config.port;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    config: { ...config, port },
    app,
    tracking,
    bootstrapToken,
    close: () =>
      (closed ??= (async () => {
        await app.close();
        await closeStores();
      })()),
  };
}
