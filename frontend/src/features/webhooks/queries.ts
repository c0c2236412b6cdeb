// Query hooks of the webhooks feature. The list and the open delivery log are polled (deliveries
// change as the server makes them, and there is no event per delivery); writes update the list at once.

import { keepPreviousData, useMutation, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import {
  createWebhook,
  deleteWebhook,
  listDeliveries,
  listWebhooks,
  redeliver,
  rotateSecret,
  sendTest,
  updateWebhook,
  type DeliveryStatus,
  type Webhook,
  type WebhookBody,
  type WebhookList,
} from "./api";
import { webhookKeys } from "./keys";

const LIST_POLL_MS = 10_000;
const LOG_POLL_MS = 2_000;

export function useWebhooks() {
  return useQuery({ queryKey: webhookKeys.list, queryFn: ({ signal }) => listWebhooks(signal), refetchInterval: LIST_POLL_MS });
}

export function useDeliveries(id: number | null, status: DeliveryStatus | null, offset: number) {
  return useQuery({
    queryKey: webhookKeys.deliveryPage(id ?? 0, status, offset),
    queryFn: ({ signal }) => listDeliveries(id ?? 0, status, offset, signal),
    enabled: id !== null,
    refetchInterval: LOG_POLL_MS,
    placeholderData: keepPreviousData,
  });
}

function upsert(client: QueryClient, hook: Webhook): void {
  client.setQueryData<WebhookList>(webhookKeys.list, (list) => {
    if (!list) return list;
    const { secret: _secret, ...shown } = hook as Webhook & { secret?: string };
    const known = list.items.some((h) => h.id === hook.id);
    const items = known ? list.items.map((h) => (h.id === hook.id ? shown : h)) : [...list.items, shown];
    return { items, total: known ? list.total : list.total + 1 };
  });
}

export function useCreateWebhook() {
  const client = useQueryClient();
  return useMutation({ mutationFn: (body: WebhookBody) => createWebhook(body), onSuccess: (hook) => upsert(client, hook) });
}

export function useUpdateWebhook() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ id, body, version }: { id: number; body: Partial<WebhookBody>; version?: number }) => updateWebhook(id, body, version),
    onSuccess: (hook) => upsert(client, hook),
  });
}

/** Applies an endpoint as it is now (a 412's `current`) to the list. */
export function useAcceptWebhook() {
  const client = useQueryClient();
  return (hook: Webhook) => upsert(client, hook);
}

export function useDeleteWebhook() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ id, version }: { id: number; version?: number }) => deleteWebhook(id, version),
    onSuccess: (_, { id }) =>
      client.setQueryData<WebhookList>(webhookKeys.list, (list) => (list ? { items: list.items.filter((h) => h.id !== id), total: list.total - 1 } : list)),
  });
}

export function useRotateSecret() {
  const client = useQueryClient();
  return useMutation({ mutationFn: (id: number) => rotateSecret(id), onSuccess: () => void client.invalidateQueries({ queryKey: webhookKeys.list }) });
}

export function useSendTest() {
  const client = useQueryClient();
  return useMutation({ mutationFn: (id: number) => sendTest(id), onSuccess: (_, id) => void client.invalidateQueries({ queryKey: webhookKeys.deliveries(id) }) });
}

export function useRedeliver() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ id, deliveryId }: { id: number; deliveryId: number }) => redeliver(id, deliveryId),
    onSuccess: (_, { id }) => void client.invalidateQueries({ queryKey: webhookKeys.deliveries(id) }),
  });
}
