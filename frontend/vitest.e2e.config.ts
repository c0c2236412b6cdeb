import { defineConfig } from "vitest/config";

// End-to-end: a real backend (started by the tests) and Debian's Chromium driven by playwright-core.
// SCREENSHOTS=1 (npm run screenshots) runs the screenshot maker instead, which writes docs/*.png.
export default defineConfig({
  test: {
    include: process.env.SCREENSHOTS === "1" ? ["tests/e2e/**/*.shots.ts"] : ["tests/e2e/**/*.e2e.ts"],
    environment: "node",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
