// The settings feature's public face, for the app's live cache rules.
export { settingsKeys, type SettingsLastChange } from "./keys";
