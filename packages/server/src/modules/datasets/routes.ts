import type { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { DATASET_LIMITS, datasetRoutes as R } from "@cairn/contract";
import { authenticatedUser, principalOf, readableProjects } from "../../platform/auth/principal.js";
import { registerRoute } from "../../platform/http/app.js";
import { sendBlob, withRawBody } from "../../platform/http/raw-body.js";
import type { LineageService, LineageVisibility } from "./lineage.js";
import type { DatasetService } from "./service.js";

/** Project lookups the lineage route uses to hide what a caller may not read. */
export type LineageProjects = Omit<LineageVisibility, "projects">;

/** The native datasets and lineage API: each route validates, then makes one service call. */
export function registerDatasetRoutes(app: FastifyInstance, svc: DatasetService, lineage: LineageService, projects: LineageProjects): void {
  registerRoute(app, R.createDataset, async ({ body }) => ({ dataset: await svc.createDataset(body) }));
  registerRoute(app, R.searchDatasets, async ({ query, req }) => svc.searchDatasets(query, readableProjects(req)));
  registerRoute(app, R.getDataset, async ({ params }) => ({ dataset: await svc.getDataset(params.name) }));
  registerRoute(app, R.updateDataset, async ({ params, body }) => ({ dataset: await svc.updateDataset(params.name, body) }));
  registerRoute(app, R.deleteDataset, async ({ params }) => (await svc.deleteDataset(params.name), {}));
  registerRoute(app, R.setExpectations, async ({ params, body }) => ({ dataset: await svc.setExpectations(params.name, body) }));

  registerRoute(app, R.findMissingBlobs, async ({ params, body }) => ({ missing: await svc.findMissingBlobs(params.name, body.hashes) }));
  withRawBody(app, (scope) => {
    registerRoute(scope, R.uploadBlob, async ({ params, body }) => svc.uploadBlob(params.name, params.sha256, body as Readable));
    registerRoute(scope, R.uploadBlobs, async ({ params, body }) => svc.uploadBlobs(params.name, body as Readable));
  });
  registerRoute(app, R.collectGarbage, async ({ body }) => svc.collectGarbage(body));

  registerRoute(
    app,
    R.createVersion,
    // With auth off, a client may name its author (as MLflow clients name their user); with auth on, only an admin's copy keeps the original.
    async ({ params, body, req }) => {
      const user = authenticatedUser(req);
      const actor = { name: user ?? body.author ?? "anonymous", keepsOrigin: user === undefined || principalOf(req).admin };
      return { version: await svc.createVersion(params.name, body, actor) };
    },
    { bodyLimit: DATASET_LIMITS.manifestBodyBytes },
  );
  registerRoute(app, R.listVersions, async ({ params, query }) => svc.listVersions(params.name, query));
  registerRoute(app, R.getVersion, async ({ params }) => ({ version: await svc.getVersion(params.name, params.ref) }));
  registerRoute(app, R.listFiles, async ({ params, query }) => svc.listFiles(params.name, params.ref, query));
  registerRoute(app, R.downloadFile, async ({ params, reply }) => {
    const blob = await svc.downloadFile(params.name, params.ref, params["*"]);
    reply.header("x-cairn-sha256", blob.entry.sha256);
    return sendBlob(reply, blob, params["*"]);
  });
  registerRoute(app, R.getProfile, async ({ params }) => svc.getProfile(params.name, params.ref));
  registerRoute(app, R.diffVersions, async ({ params, query }) => svc.diff(params.name, query.from, query.to));
  registerRoute(app, R.setVersionTag, async ({ params, body }) => ({ version: await svc.setVersionTag(params.name, params.tag, body.version) }));
  registerRoute(app, R.deleteVersionTag, async ({ params }) => (await svc.deleteVersionTag(params.name, params.tag), {}));

  registerRoute(app, R.linkRunDataset, async ({ params, body }) => ({ version: await svc.linkRun(params.id, body) }));
  registerRoute(app, R.getLineage, async ({ query, req }) => {
    const readable = readableProjects(req);
    return lineage.graph(query, readable === undefined ? undefined : { ...projects, projects: new Set(readable) });
  });
}
