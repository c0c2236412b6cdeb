// The events feature's public face: notifications (bell, panel, read state, toasts, announcements).
export { NotificationsProvider, useNotifications, announcementFor } from "./NotificationsProvider";
export { NotificationsBell } from "./NotificationsBell";
