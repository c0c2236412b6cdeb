// Query hooks of the zones feature: reads from the shared cache, and writes that update it at once
// (the live event that follows is then a no-op, or tells the other users' pages).

import { keepPreviousData, useMutation, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { ApiError } from "../../services/api";
import {
  createRecord,
  createZone,
  deleteRecord,
  deleteZone,
  getZone,
  listAllRecords,
  listZones,
  updateRecord,
  updateZone,
  type DnsRecord,
  type Page,
  type RecordBody,
  type Zone,
  type ZoneCreateBody,
  type ZoneUpdateBody,
} from "./api";
import { markZoneDeleted, patchZone, removeRecords, removeZoneFromPage, upsertRecord, type ZoneView } from "./cache";
import { zoneKeys, type ZoneListKeyParams } from "./keys";

export function useZones(params: ZoneListKeyParams) {
  return useQuery({
    queryKey: zoneKeys.list(params),
    queryFn: ({ signal }) => listZones({ search: params.search, offset: params.offset }, signal),
    placeholderData: keepPreviousData,
  });
}

/** A zone the page holds and the server no longer has was deleted: say so instead of failing. */
function keepIfDeleted<T>(client: QueryClient, key: readonly unknown[], error: unknown, mark: (cached: T) => T): T {
  const cached = client.getQueryData<T>(key);
  if (error instanceof ApiError && error.notFound && cached !== undefined) return mark(cached);
  throw error;
}

export function useZone(id: number) {
  const client = useQueryClient();
  return useQuery({
    queryKey: zoneKeys.detail(id),
    queryFn: async ({ signal }): Promise<ZoneView> => {
      try {
        return await getZone(id, signal);
      } catch (error) {
        return keepIfDeleted<ZoneView>(client, zoneKeys.detail(id), error, (zone) =>
          markZoneDeleted(zone, zone.deleted?.by ?? null, zone.deleted?.at ?? new Date().toISOString()),
        );
      }
    },
    enabled: Number.isInteger(id) && id > 0,
  });
}

export function useRecords(zoneId: number, enabled = true) {
  const client = useQueryClient();
  return useQuery({
    queryKey: zoneKeys.records(zoneId),
    queryFn: async ({ signal }): Promise<DnsRecord[]> => {
      try {
        return await listAllRecords(zoneId, signal);
      } catch (error) {
        return keepIfDeleted<DnsRecord[]>(client, zoneKeys.records(zoneId), error, (records) => records);
      }
    },
    enabled: enabled && Number.isInteger(zoneId) && zoneId > 0,
  });
}

// --- writes --------------------------------------------------------------------------------------

function afterZoneWrite(client: QueryClient, zone: Zone | null, removedId?: number): void {
  if (zone !== null) client.setQueryData<ZoneView>(zoneKeys.detail(zone.id), (old) => (old ? patchZone(old, zone) : zone));
  if (removedId !== undefined) {
    client.setQueriesData<Page<Zone>>({ queryKey: zoneKeys.lists() }, (page) => (page ? removeZoneFromPage(page, removedId) : page));
  }
  void client.invalidateQueries({ queryKey: zoneKeys.lists() });
}

export function useCreateZone() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: ZoneCreateBody) => createZone(body),
    onSuccess: (zone) => afterZoneWrite(client, zone),
  });
}

export function useUpdateZone(zoneId: number) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ body, version }: { body: ZoneUpdateBody; version?: number }) => updateZone(zoneId, body, version),
    onSuccess: (zone) => afterZoneWrite(client, zone),
  });
}

/** Deletes a zone; one that is already gone (404) counts as deleted. */
export function useDeleteZone() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (zone: Pick<Zone, "id" | "version">) => {
      try {
        await deleteZone(zone.id, zone.version);
      } catch (error) {
        if (!(error instanceof ApiError && error.notFound)) throw error;
      }
      return zone.id;
    },
    onSuccess: (id) => {
      afterZoneWrite(client, null, id);
      client.removeQueries({ queryKey: zoneKeys.detail(id) });
      client.removeQueries({ queryKey: zoneKeys.records(id) });
    },
  });
}

export function useSaveRecord(zoneId: number) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ id, body, version }: { id?: number; body: RecordBody; version?: number }) =>
      id === undefined ? createRecord(zoneId, body) : updateRecord(zoneId, id, body, version),
    onSuccess: (record) => {
      client.setQueryData<DnsRecord[]>(zoneKeys.records(zoneId), (list) => (list ? upsertRecord(list, record) : list));
    },
    onSettled: () => client.invalidateQueries({ queryKey: zoneKeys.detail(zoneId) }),
  });
}

export interface BulkDeleteResult {
  deleted: number[];
  failed: { record: DnsRecord; error: unknown }[];
}

const BULK_CONCURRENCY = 4;

/** Deletes records a few at a time (each is its own change and serial); reports what failed. */
export async function deleteRecordsInTurn(zoneId: number, records: DnsRecord[], onDeleted: (id: number) => void): Promise<BulkDeleteResult> {
  const result: BulkDeleteResult = { deleted: [], failed: [] };
  const queue = [...records];
  const worker = async (): Promise<void> => {
    for (let record = queue.shift(); record !== undefined; record = queue.shift()) {
      try {
        await deleteRecord(zoneId, record.id, record.version);
        result.deleted.push(record.id);
        onDeleted(record.id);
      } catch (error) {
        if (error instanceof ApiError && error.notFound) {
          result.deleted.push(record.id);
          onDeleted(record.id);
        } else {
          result.failed.push({ record, error });
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(BULK_CONCURRENCY, records.length) }, worker));
  return result;
}

export function useDeleteRecords(zoneId: number) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (records: DnsRecord[]) =>
      deleteRecordsInTurn(zoneId, records, (id) =>
        client.setQueryData<DnsRecord[]>(zoneKeys.records(zoneId), (list) => (list ? removeRecords(list, [id]) : list)),
      ),
    onSettled: () => client.invalidateQueries({ queryKey: zoneKeys.detail(zoneId) }),
  });
}

/** Applies a change someone else made (a 412's `current`) to the cache, so the page shows it. */
export function useAcceptCurrent(zoneId: number) {
  const client = useQueryClient();
  return (record: DnsRecord) =>
    client.setQueryData<DnsRecord[]>(zoneKeys.records(zoneId), (list) => (list ? upsertRecord(list, record) : list));
}
