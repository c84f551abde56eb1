import { describe, expect, it } from "vitest";
import { escapeCell, renderCardMarkdown } from "./card.js";

describe("renderCardMarkdown", () => {
  it("escapes pipes, backslashes and line breaks in table cells", () => {
    expect(escapeCell("a|b\\c\nd")).toBe("a\\|b\\\\c<br>d");
  });

  it("renders filled sections in order, tables escaped, empty sections left out", () => {
    const md = renderCardMarkdown(
      "fraud",
      {
        version: 2,
        riskClass: "high",
        owners: ["ada", "bob|ops"],
        contact: "risk@example.com",
        intendedUse: "Score card payments.",
        limitations: "  ",
        trainingDatasets: [{ name: "tx|2025", version: "3", uri: "s3://b/tx" }, { name: "chargebacks" }],
        evaluation: "Holdout of March.",
      },
      { version: "2", runId: "r1", metrics: { auc: 0.91, "loss|x": 0.2 } },
    );
    expect(md).toBe(
      [
        "# Model card: fraud",
        "",
        "| | |",
        "|---|---|",
        "| Version | 2 |",
        "| Risk class | High |",
        "| Owners | ada, bob\\|ops |",
        "| Contact | risk@example.com |",
        "",
        "## Intended use",
        "",
        "Score card payments.",
        "",
        "## Training datasets",
        "",
        "| Name | Version | URI |",
        "|---|---|---|",
        "| tx\\|2025 | 3 | s3://b/tx |",
        "| chargebacks |  |  |",
        "",
        "## Evaluation",
        "",
        "Holdout of March.",
        "",
        "Results of version 2 (run `r1`):",
        "",
        "| Metric | Value |",
        "|---|---|",
        "| auc | 0.91 |",
        "| loss\\|x | 0.2 |",
        "",
      ].join("\n"),
    );
  });

  it("renders an empty card as just its title, and says when a version has no metrics", () => {
    expect(renderCardMarkdown("m", {}, null)).toBe("# Model card: m\n");
    expect(renderCardMarkdown("m", {}, { version: "1", runId: "", metrics: {} })).toContain("Results of version 1:\n\n_No metrics recorded._\n");
  });
});
