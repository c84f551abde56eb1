import { ApiClient } from "@cairn/sdk/core";
import { apiRoutes, isCairnError } from "@cairn/contract";

/** The one API client of the UI; it talks to the server that served the page. */
export const client = new ApiClient({ url: window.location.origin });

/** The typed API methods, e.g. `api.searchRuns({ body: { experimentIds: ["0"] } })`. */
export const api = client.api;

/** The URL that downloads one artifact file of a run. */
export function artifactUrl(runId: string, path: string): string {
  return client.url(apiRoutes.downloadArtifact, { id: runId, "*": path });
}

/** A displayable description of any error: the server's code and message when it is a CairnError. */
export function describeError(e: unknown): { code?: string; message: string; requestId?: string } {
  if (isCairnError(e)) {
    const out: { code?: string; message: string; requestId?: string } = { code: e.code, message: e.message };
    if (e.requestId) out.requestId = e.requestId;
    return out;
  }
  if (e instanceof Error) return { message: e.message };
  return { message: String(e) };
}

/** Metric values arrive as numbers, or as "NaN" / "Infinity" / "-Infinity" strings on the JSON wire. */
export function toNumber(v: unknown): number {
  return typeof v === "number" ? v : Number(v);
}

/** Stores the API token in a same-site cookie (sent with every request to this server) and reloads. */
export function signIn(token: string): void {
  document.cookie = `cairn_token=${encodeURIComponent(token)}; path=/; SameSite=Strict${window.location.protocol === "https:" ? "; Secure" : ""}`;
  window.location.reload();
}

/** Forgets the API token cookie (set by `signIn`) and reloads. */
export function signOut(): void {
  document.cookie = `cairn_token=; path=/; Max-Age=0; SameSite=Strict${window.location.protocol === "https:" ? "; Secure" : ""}`;
  window.location.reload();
}
