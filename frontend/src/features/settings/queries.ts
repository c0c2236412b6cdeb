// Query hooks of the settings feature: the values from the shared cache (refetched when any admin
// changes them), the last change another admin made, and the save.

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { getSettings, putSettings, type RuntimeSettings } from "./api";
import { settingsKeys, type SettingsLastChange } from "./keys";

export function useSettings() {
  return useQuery({ queryKey: settingsKeys.current, queryFn: ({ signal }) => getSettings(signal) });
}

/** Filled by live events (app/liveCache.ts), never fetched: null until a change arrives. */
export function useLastSettingsChange() {
  return useQuery<SettingsLastChange | null>({ queryKey: settingsKeys.lastChange, queryFn: () => null, initialData: null, staleTime: Infinity });
}

export function useSaveSettings() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (values: Partial<RuntimeSettings>) => putSettings(values),
    onSuccess: (result) => client.setQueryData(settingsKeys.current, result.settings),
  });
}
