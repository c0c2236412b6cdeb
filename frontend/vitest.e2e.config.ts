import { defineConfig } from "vitest/config";

// End-to-end: a real backend (started by the tests) and Debian's Chromium driven by playwright-core.
export default defineConfig({
  test: {
    include: ["tests/e2e/**/*.e2e.ts"],
    environment: "node",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
