// Query hooks of the forwarders feature: the list from the shared cache, and writes that update it
// at once (the live event that follows then changes nothing here, and tells the other users' pages).

import { useMutation, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { ApiError, type Page } from "../../services/api";
import { createForwarder, deleteForwarder, listForwarders, updateForwarder, type Forwarder, type ForwarderBody } from "./api";
import { removeForwarder, upsertForwarder } from "./cache";
import { forwarderKeys } from "./keys";

export function useForwarders() {
  return useQuery({ queryKey: forwarderKeys.list, queryFn: ({ signal }) => listForwarders(signal) });
}

function patchList(client: QueryClient, update: (page: Page<Forwarder>) => Page<Forwarder>): void {
  client.setQueryData<Page<Forwarder>>(forwarderKeys.list, (page) => (page ? update(page) : page));
}

export function useSaveForwarder() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ id, body, version }: { id?: number; body: Partial<ForwarderBody>; version?: number }) =>
      id === undefined ? createForwarder(body as ForwarderBody) : updateForwarder(id, body, version),
    onSuccess: (forwarder) => patchList(client, (page) => upsertForwarder(page, forwarder)),
  });
}

/** Applies a forwarder as it is now (a 412's `current`) to the list. */
export function useAcceptForwarder() {
  const client = useQueryClient();
  return (forwarder: Forwarder) => patchList(client, (page) => upsertForwarder(page, forwarder));
}

/** Deletes a forwarder; one that is already gone (404) counts as deleted. */
export function useDeleteForwarder() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (forwarder: Pick<Forwarder, "id" | "version">) => {
      try {
        await deleteForwarder(forwarder.id, forwarder.version);
      } catch (error) {
        if (!(error instanceof ApiError && error.notFound)) throw error;
      }
      return forwarder.id;
    },
    onSuccess: (id) => patchList(client, (page) => removeForwarder(page, id)),
  });
}
