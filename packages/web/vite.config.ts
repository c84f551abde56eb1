import { defineConfig, defaultClientConditions } from "vite";
import react from "@vitejs/plugin-react";

/**
 * Builds the Cairn UI to static files in `dist/`, which the server serves at `/`.
 * The workspace packages are compiled from their TypeScript source via the
 * "@cairn/source" export condition, so no prior `tsc -b` is needed.
 * `npm run dev -w @cairn/web` proxies `/api` to a server on port 5005.
 */
export default defineConfig({
  base: "/",
  plugins: [react()],
  resolve: { conditions: ["@cairn/source", ...defaultClientConditions] },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    reportCompressedSize: false,
    rolldownOptions: {
      output: {
        // Vendor code changes rarely: separate chunks keep it cached across UI releases
        // and keep every chunk well under the size warning as pages are added.
        codeSplitting: {
          groups: [
            { name: "react", test: /node_modules[\\/](react|react-dom|scheduler)[\\/]/ },
            { name: "uplot", test: /node_modules[\\/]uplot[\\/]/ },
            { name: "zod", test: /node_modules[\\/]zod[\\/]/ },
          ],
        },
      },
    },
  },
  server: { proxy: { "/api": "http://127.0.0.1:5005" } },
});
