// The explorer feature's public face, for the router's URL checks (the router imports the page from its own file).
export { validateExplorerSearch, type ExplorerSearch } from "./search";
