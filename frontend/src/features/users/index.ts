// The users feature's public face, for the app's live cache rules.
export { userKeys } from "./keys";
export { upsertUser, userFromEvent } from "./cache";
export type { User, UserList } from "./api";
