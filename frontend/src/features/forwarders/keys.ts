// The forwarders feature's entry in the query cache: the whole list (forwarders are few), so a live
// change patches one place.
export const forwarderKeys = {
  all: ["forwarders"] as const,
  list: ["forwarders", "list"] as const,
};
