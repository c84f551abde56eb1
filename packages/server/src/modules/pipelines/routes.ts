import type { FastifyInstance, FastifyReply } from "fastify";
import { PIPELINE_LIMITS, pipelineRoutes as R } from "@cairn/contract";
import { authenticatedUser, readableProjects } from "../../platform/auth/principal.js";
import { registerRoute } from "../../platform/http/app.js";
import type { PipelineService } from "./service.js";

/** Aborts when the client goes away, so a long poll stops waiting for nobody. */
function closedSignal(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once("close", () => ac.abort());
  return ac.signal;
}

const projectSet = (p: string[] | undefined) => (p === undefined ? undefined : new Set(p));
const actorOf = (user: string | undefined) => (user ? { user } : {});

/** The pipelines API: each route validates, then makes one service call. */
export function registerPipelineRoutes(app: FastifyInstance, svc: PipelineService): void {
  registerRoute(app, R.pushPipeline, async ({ body, req }) => ({ pipeline: await svc.pushPipeline(body, actorOf(authenticatedUser(req))) }), { bodyLimit: PIPELINE_LIMITS.definitionBytes });
  registerRoute(app, R.listPipelines, async ({ req }) => ({ pipelines: await svc.listPipelines(projectSet(readableProjects(req))) }));
  registerRoute(app, R.getPipeline, async ({ params }) => ({ pipeline: await svc.getPipeline(params.name) }));
  registerRoute(app, R.startPipelineRun, async ({ params, body, req }) => ({ run: await svc.startRun(params.name, body, actorOf(authenticatedUser(req))) }));

  registerRoute(app, R.listPipelineRuns, async ({ query, req }) => ({ runs: await svc.listRuns(query, projectSet(readableProjects(req))) }));
  registerRoute(app, R.getPipelineRun, async ({ params }) => ({ run: await svc.getRun(params.id) }));
  registerRoute(app, R.cancelPipelineRun, async ({ params }) => ({ run: await svc.cancelRun(params.id) }));
  registerRoute(app, R.resumePipelineRun, async ({ params }) => ({ run: await svc.resumeRun(params.id) }));
  registerRoute(app, R.getPipelineLogs, async ({ params, query, reply }) => svc.getLogs(params.id, query, closedSignal(reply)));

  registerRoute(app, R.reportLocalRun, async ({ params, body }) => ({ run: await svc.reportLocalRun(params.id, body) }), { bodyLimit: PIPELINE_LIMITS.definitionBytes });
  registerRoute(app, R.reportLocalStep, async ({ params, body }) => (await svc.reportLocalStep(params.id, body), {}));
  registerRoute(app, R.appendLocalLogs, async ({ params, body }) => (await svc.appendLocalLogs(params.id, body), {}));
  registerRoute(app, R.finishLocalRun, async ({ params, body }) => (await svc.finishLocalRun(params.id, body), {}));

  registerRoute(app, R.registerWorker, async ({ body }) => ({ worker: await svc.registerWorker(body) }));
  registerRoute(app, R.listWorkers, async () => ({ workers: await svc.listWorkers() }));
  registerRoute(app, R.claimTask, async ({ params, body, reply }) => ({ task: await svc.claim(params.id, body, closedSignal(reply)) }));
  registerRoute(app, R.workerHeartbeat, async ({ params, body }) => svc.heartbeat(params.id, body));
  registerRoute(app, R.taskEvent, async ({ params, body }) => (await svc.taskEvent(params.id, body), {}));
  registerRoute(app, R.taskLogs, async ({ params, body }) => (await svc.taskLogs(params.id, body), {}));
  registerRoute(app, R.completeTask, async ({ params, body }) => (await svc.completeTask(params.id, body), {}), { bodyLimit: 256 * 1024 * 1024 });
  registerRoute(app, R.getStepCacheEntry, async ({ params }) => ({ entry: await svc.cacheEntry(params.name, params.key) }));

  registerRoute(app, R.createSchedule, async ({ params, body }) => ({ schedule: await svc.createSchedule(params.name, body) }));
  registerRoute(app, R.listSchedules, async ({ params }) => ({ schedules: await svc.listSchedules(params.name) }));
  registerRoute(app, R.listAllSchedules, async ({ req }) => ({ schedules: await svc.listSchedules(undefined, projectSet(readableProjects(req))) }));
  registerRoute(app, R.updateSchedule, async ({ params, body }) => ({ schedule: await svc.updateSchedule(params.name, params.id, body) }));
  registerRoute(app, R.deleteSchedule, async ({ params }) => (await svc.deleteSchedule(params.name, params.id), {}));
}
