import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The dev server proxies the API and the sockets to the backend (`make run` serves the built app itself).
const backend = process.env.BACKEND_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      "/api": backend,
      "/healthz": backend,
      "/ws": { target: backend.replace(/^http/, "ws"), ws: true },
    },
  },
  build: { outDir: "dist", sourcemap: true },
});
