/**
 * `npm run bench -- <area> [--json]`: runs one capability's benchmark. Each figure is printed
 * beside a baseline measured in the same run.
 */
const areas: Record<string, () => Promise<{ run(opts: { json: boolean }): Promise<void> }>> = {
  tracking: () => import("./tracking.js"),
  registry: () => import("./registry.js"),
  data: () => import("./data.js"),
  pipelines: () => import("./pipelines.js"),
  serving: () => import("./serving.js"),
  monitoring: () => import("./monitoring.js"),
};

const args = process.argv.slice(2);
const json = args.includes("--json");
const area = args.find((a) => !a.startsWith("--"));
if (!area || !areas[area]) {
  process.stderr.write(`usage: npm run bench -- <area> [--json]\nareas: ${Object.keys(areas).join(", ")}\n`);
  process.exit(2);
}
const mod = await areas[area]!();
await mod.run({ json });
