import type { ComponentType } from "react";
import { ExperimentsPage } from "./experiments-page.js";
import { RunsPage } from "./runs-page.js";
import { RunPage } from "./run-page.js";
import { ComparePage } from "./compare-page.js";
import { ModelsPage } from "./models-page.js";
import { ModelPage } from "./model-page.js";
import { ModelComparePage } from "./model-compare-page.js";
import { PromotionPage, PromotionsPage } from "./promotions-page.js";
import { AuditPage } from "./audit-page.js";
import { DatasetsPage } from "./datasets-page.js";
import { DatasetPage } from "./dataset-page.js";
import { DatasetDiffPage } from "./dataset-diff-page.js";
import { LineagePage } from "./lineage-page.js";
import { PipelineRunsPage, PipelinesPage } from "./pipelines-page.js";
import { PipelineRunPage } from "./pipeline-run-page.js";
import { SweepPage } from "./sweep-page.js";
import { SchedulesPage } from "./schedules-page.js";
import { DeploymentsPage } from "./deployments-page.js";
import { DeploymentPage } from "./deployment-page.js";
import { MonitoringPage } from "./monitoring-page.js";

/** What every page component receives from the router. */
export interface PageProps {
  /** The `:name` segments of the matched path. */
  params: Record<string, string>;
  /** The query part of the hash (`#/compare?runs=a,b` → runs=a,b). */
  query: URLSearchParams;
}

/** One page of the UI. */
export interface PageDef {
  /** A hash path pattern with `:name` segments, e.g. `/runs/:runId`. */
  path: string;
  component: ComponentType<PageProps>;
  /** Shown in the left nav when set; pages without a label are reachable by link only. */
  label?: string;
  /** The nav section heading the label sits under (default "Tracking"). */
  section?: string;
  /** For a page without a label: the nav path to highlight while it is open. */
  navParent?: string;
  /**
   * Who the nav entry is shown to (default: everyone). Only hides the entry: the page itself still
   * opens by URL, and the server answers a caller without the permission with its usual error.
   */
  requires?: "admin";
}

/**
 * Every page of the UI, in nav order. Adding a capability's page is one line, e.g.
 * `{ path: "/models", label: "Models", section: "Registry", component: ModelsPage }`.
 */
export const pages: PageDef[] = [
  { path: "/experiments", label: "Experiments", section: "Tracking", component: ExperimentsPage },
  { path: "/experiments/:experimentId", navParent: "/experiments", component: RunsPage },
  { path: "/runs/:runId", navParent: "/experiments", component: RunPage },
  { path: "/compare", navParent: "/experiments", component: ComparePage },
  { path: "/models", label: "Models", section: "Registry", component: ModelsPage },
  { path: "/models/:name", navParent: "/models", component: ModelPage },
  { path: "/models/:name/compare", navParent: "/models", component: ModelComparePage },
  { path: "/promotions", label: "Promotions", section: "Registry", component: PromotionsPage },
  { path: "/promotions/:id", navParent: "/promotions", component: PromotionPage },
  { path: "/datasets", label: "Datasets", section: "Data", component: DatasetsPage },
  { path: "/datasets/:name", navParent: "/datasets", component: DatasetPage },
  { path: "/datasets/:name/diff", navParent: "/datasets", component: DatasetDiffPage },
  { path: "/lineage", label: "Lineage", section: "Data", component: LineagePage },
  { path: "/pipelines", label: "Pipelines", section: "Pipelines", component: PipelinesPage },
  { path: "/pipelines/runs", label: "Runs", section: "Pipelines", component: PipelineRunsPage },
  { path: "/pipelines/runs/:id", navParent: "/pipelines/runs", component: PipelineRunPage },
  { path: "/pipelines/schedules", label: "Schedules", section: "Pipelines", component: SchedulesPage },
  { path: "/sweeps/:id", navParent: "/pipelines", component: SweepPage },
  { path: "/deployments", label: "Deployments", section: "Serving", component: DeploymentsPage },
  { path: "/deployments/:name", navParent: "/deployments", component: DeploymentPage },
  { path: "/deployments/:name/monitoring", navParent: "/deployments", component: MonitoringPage },
  { path: "/audit", label: "Audit log", section: "Admin", requires: "admin", component: AuditPage },
];

/** Where `#/` goes. */
export const HOME_PATH = "/experiments";
