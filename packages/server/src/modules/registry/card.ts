import type { CardEvaluationResults, ModelCard } from "@cairn/contract";

/** Escapes a value for one Markdown table cell: pipes, backslashes and line breaks. */
export function escapeCell(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\r?\n/g, "<br>");
}

const RISK: Record<string, string> = { minimal: "Minimal", limited: "Limited", high: "High", unacceptable: "Unacceptable" };

/**
 * Renders a model card as Markdown: a title, each filled section in a fixed order, training
 * datasets and evaluation results as tables (cells escaped). Empty sections are left out.
 * @example renderCardMarkdown("fraud", { intendedUse: "Score card payments" }, null)
 */
export function renderCardMarkdown(name: string, card: ModelCard, results: CardEvaluationResults | null): string {
  const out: string[] = [`# Model card: ${name}`, ""];
  const facts: [string, string][] = [];
  if (card.version !== undefined) facts.push(["Version", String(card.version)]);
  if (card.riskClass) facts.push(["Risk class", RISK[card.riskClass] ?? card.riskClass]);
  if (card.owners?.length) facts.push(["Owners", card.owners.join(", ")]);
  if (card.contact) facts.push(["Contact", card.contact]);
  if (facts.length) {
    out.push("| | |", "|---|---|", ...facts.map(([k, v]) => `| ${k} | ${escapeCell(v)} |`), "");
  }
  const section = (title: string, text: string | undefined) => {
    if (text?.trim()) out.push(`## ${title}`, "", text.trim(), "");
  };
  section("Intended use", card.intendedUse);
  section("Out-of-scope use", card.outOfScopeUse);
  section("Limitations", card.limitations);
  if (card.trainingDatasets?.length) {
    out.push("## Training datasets", "", "| Name | Version | URI |", "|---|---|---|");
    for (const d of card.trainingDatasets) out.push(`| ${escapeCell(d.name)} | ${escapeCell(d.version ?? "")} | ${escapeCell(d.uri ?? "")} |`);
    out.push("");
  }
  if (card.evaluation?.trim() || results) {
    out.push("## Evaluation", "");
    if (card.evaluation?.trim()) out.push(card.evaluation.trim(), "");
    if (results) {
      const keys = Object.keys(results.metrics).sort();
      out.push(`Results of version ${results.version}${results.runId ? ` (run \`${results.runId}\`)` : ""}:`, "");
      if (keys.length) out.push("| Metric | Value |", "|---|---|", ...keys.map((k) => `| ${escapeCell(k)} | ${results.metrics[k]} |`), "");
      else out.push("_No metrics recorded._", "");
    }
  }
  section("Ethical considerations", card.ethicalConsiderations);
  return `${out.join("\n").replace(/\n+$/, "")}\n`;
}
