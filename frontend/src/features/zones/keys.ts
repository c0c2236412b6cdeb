// The zones feature's entries in the query cache. Lists are keyed by their parameters; one zone's
// records are one entry (all of them, filtered on the page), so a live change patches one place.

export interface ZoneListKeyParams {
  search: string;
  offset: number;
}

export const zoneKeys = {
  all: ["zones"] as const,
  lists: () => ["zones", "list"] as const,
  list: (params: ZoneListKeyParams) => ["zones", "list", params] as const,
  details: () => ["zones", "detail"] as const,
  detail: (id: number) => ["zones", "detail", id] as const,
  records: (id: number) => ["zones", "records", id] as const,
};
