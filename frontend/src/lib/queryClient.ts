// The one cache of server state (TanStack Query). WebSocket events keep it current (app/liveCache.ts
// patches or invalidates entries as changes happen), so entries stay fresh for a while and are not
// refetched on every focus; the stale time is a safety net for changes that no event announces.

import { QueryClient } from "@tanstack/react-query";
import { ApiError } from "../services/api";

/** A client error (4xx) will not change by asking again; a network failure or a 5xx may. */
export function shouldRetry(failureCount: number, error: unknown): boolean {
  if (error instanceof ApiError && error.status >= 400 && error.status < 500) return false;
  return failureCount < 2;
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 60_000,
        gcTime: 10 * 60_000,
        retry: shouldRetry,
        retryDelay: (attempt) => Math.min(4000, 500 * 2 ** attempt),
        refetchOnWindowFocus: false,
      },
      mutations: { retry: false },
    },
  });
}
