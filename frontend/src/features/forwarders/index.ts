// The forwarders feature's public face, for the app's live cache rules (the router imports the
// page from its own file).
export { forwarderKeys } from "./keys";
export { forwarderFromChange, removeForwarder, upsertForwarder } from "./cache";
export type { Forwarder } from "./api";
