import { buildServer } from "./src/server.js";
import fs from "node:fs";
const auth = process.env.AUTH === "1";
const dir = fs.mkdtempSync("/tmp/pf-");
const { app, closeStores } = await buildServer({ dataDir: dir, logLevel: "silent", audit: process.env.AUDIT === "1", ...(auth ? { authTokens: ["adm"] } : {}) });
const A = { authorization: "Bearer adm", "content-type": "application/json" };
const inj = (method: string, url: string, payload?: unknown, headers: Record<string, string> = A) => app.inject({ method: method as any, url, payload: payload as any, headers });
const e = (await inj("POST", "/api/v1/experiments", { name: "e" })).json();
const r = (await inj("POST", "/api/v1/runs", { experimentId: e.experiment.experimentId })).json();
for (let m = 0; m < 500; m++) {
  await inj("POST", "/api/v1/models", { name: `m${m}` });
  await inj("POST", `/api/v1/models/m${m}/versions`, { source: `runs:/${r.run.info.runId}/m` });
  await inj("PUT", `/api/v1/models/m${m}/aliases/champion`, { version: 1 });
}
let H = A;
if (auth) {
  await inj("POST", "/api/v1/auth/users", { name: "ed" });
  await inj("PUT", "/api/v1/projects/default/members/ed", { role: "editor" });
  const tok = (await inj("POST", "/api/v1/auth/tokens", { user: "ed", name: "x" })).json().token;
  H = { authorization: `Bearer ${tok}`, "content-type": "application/json" };
}
async function t(label: string, n: number, fn: (i: number) => Promise<{ statusCode: number }>) {
  for (let i = 0; i < 300; i++) await fn(i);
  const s = performance.now();
  for (let i = 0; i < n; i++) { const res = await fn(i); if (res.statusCode >= 300) throw new Error(label + " " + res.statusCode); }
  return `${label} ${(((performance.now() - s) / n) * 1000).toFixed(0)}µs`;
}
const out = [
  await t("alias same", 3000, () => inj("GET", "/api/v1/models/m7/aliases/champion", undefined, H)),
  await t("alias cycling", 3000, (i) => inj("GET", `/api/v1/models/m${i % 500}/aliases/champion`, undefined, H)),
  await t("tag same", 3000, (i) => inj("PUT", "/api/v1/models/m7/tags", { key: "k", value: "v" + i }, H)),
];
console.log(`auth=${auth} audit=${process.env.AUDIT}: ${out.join(", ")}`);
await closeStores();
