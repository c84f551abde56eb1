import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["@cairn/source"] },
  ssr: { resolve: { conditions: ["@cairn/source"] } },
  test: {
    include: ["packages/*/src/**/*.test.ts", "packages/*/test/**/*.test.ts", "e2e/**/*.test.ts", "examples/*/**/*.test.ts"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ["default"],
  },
});
