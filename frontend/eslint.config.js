// Lint rules of the dashboard (run by `npm test`): TypeScript, React hooks, and the one-way
// structure of src/:
//   app/       -> may import everything (it composes the features)
//   features/X -> lib/, services/, types/ and its own files; never another feature, never app/
//   lib/       -> services/, types/ (shared React utilities; no feature, no app)
//   services/  -> types/ only, and no React (framework-free: the socket state machine, the session)
//   types/     -> nothing
import js from "@eslint/js";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import { importX } from "eslint-plugin-import-x";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

const FEATURES = ["zones", "rpz", "forwarders", "users", "settings", "audit", "events", "connection", "overview", "explorer", "webhooks"];

const layerZones = [
  ...FEATURES.map((feature) => ({
    target: `./src/features/${feature}`,
    from: "./src/features",
    except: [`./${feature}`],
    message: `A feature imports only lib/, services/, types/ and its own files: compose features in app/ instead.`,
  })),
  { target: "./src/features", from: "./src/app", message: "Features do not import the app: the app imports them." },
  { target: "./src/lib", from: ["./src/features", "./src/app"], message: "lib/ is shared by every feature: it imports no feature and not the app." },
  {
    target: "./src/services",
    from: ["./src/features", "./src/app", "./src/lib"],
    message: "services/ is framework-free and imports only types/.",
  },
  { target: "./src/types", from: ["./src/features", "./src/app", "./src/lib", "./src/services"], message: "types/ imports nothing." },
];

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "*.tsbuildinfo"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.{ts,tsx}"],
    plugins: { "import-x": importX, "react-hooks": reactHooks },
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.browser },
    },
    settings: {
      "import-x/resolver-next": [createTypeScriptImportResolver({ project: "./tsconfig.json" })],
    },
    rules: {
      ...reactHooks.configs.flat.recommended.rules,
      "import-x/no-restricted-paths": ["error", { zones: layerZones }],
      "import-x/no-unresolved": "error",
      "import-x/no-duplicates": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      eqeqeq: ["error", "always"],
    },
  },
  {
    files: ["src/services/**/*.ts", "src/types/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["react", "react-dom", "react/*", "@tanstack/*"], message: "services/ and types/ are framework-free." }] }],
    },
  },
  {
    files: ["tests/**/*.{ts,tsx}", "*.config.{ts,js}", "vite.config.ts"],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
);
