// The audit feature's public face, for the router's URL checks.
export { validateAuditSearch, type AuditSearch } from "./search";
