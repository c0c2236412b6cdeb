// The settings feature's entries in the query cache: the values, and the last change another admin
// made (who, when, what), which live events record so the page can say so.
export const settingsKeys = {
  all: ["settings"] as const,
  current: ["settings", "current"] as const,
  lastChange: ["settings", "last-change"] as const,
};

export interface SettingsLastChange {
  by: string | null;
  at: string;
  /** The settings named in the event. */
  keys: string[];
}
