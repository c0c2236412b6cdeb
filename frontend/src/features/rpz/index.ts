// The RPZ feature's public face, for the app's live cache rules and route checks (the router
// imports the page from its own file).
export { validateRpzSearch, type RpzSearch } from "./search";
export { rpzKeys } from "./keys";
export { patchRuleInPage, removeDomainsFromPage, type RulePatch } from "./cache";
export { RPZ_ACTIONS, type RpzAction, type RpzRule } from "./api";
