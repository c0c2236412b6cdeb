// The webhooks feature's public face.
export { webhookKeys } from "./keys";
export type { Delivery, Webhook, WebhookList } from "./api";
