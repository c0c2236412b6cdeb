// The webhooks feature's entries in the query cache: the list, and each endpoint's delivery log.
export const webhookKeys = {
  all: ["webhooks"] as const,
  list: ["webhooks", "list"] as const,
  deliveries: (id: number) => ["webhooks", "deliveries", id] as const,
  deliveryPage: (id: number, status: string | null, offset: number) => ["webhooks", "deliveries", id, status ?? "all", offset] as const,
};
