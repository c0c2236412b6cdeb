// The entry point: the theme before the first paint, then the app.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import App from "./app/App";
import { initTheme } from "./lib/theme";
import "./styles.css";

initTheme();

const root = document.getElementById("root");
if (!root) throw new Error("missing #root");
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
