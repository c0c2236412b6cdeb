// The RPZ feature's entries in the query cache: one per page of a search (its parameters in the key),
// all under one prefix, so a change can patch or refresh every page shown at once.

export interface RuleListKeyParams {
  search: string;
  category: string;
  action: string;
  offset: number;
}

export const rpzKeys = {
  all: ["rpz"] as const,
  lists: () => ["rpz", "list"] as const,
  list: (params: RuleListKeyParams) => ["rpz", "list", params] as const,
};
