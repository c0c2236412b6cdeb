// The live settings API (/api/settings, admins): read them, change some. A change is stored, audited
// and announced (`config_change` with section "settings") to every instance and every admin's page.

import { apiFetch } from "../../services/api";
import type { SettingKey } from "./schemas";

export type RuntimeSettings = Record<SettingKey, number>;

export interface SettingsChange {
  old: number;
  new: number;
}

export interface PutSettingsResult {
  settings: RuntimeSettings;
  changed: Partial<Record<SettingKey, SettingsChange>>;
}

export function getSettings(signal?: AbortSignal): Promise<RuntimeSettings> {
  return apiFetch<RuntimeSettings>("/api/settings", { signal });
}

export function putSettings(values: Partial<RuntimeSettings>): Promise<PutSettingsResult> {
  return apiFetch<PutSettingsResult>("/api/settings", { method: "PUT", body: JSON.stringify(values) });
}
