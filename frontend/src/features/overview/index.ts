// The overview feature's public face, for the app (route, header figures, live cache rules).
export { OverviewPage } from "./OverviewPage";
export { LiveVitals } from "./LiveVitals";
export {
  overviewKeys,
  addRecentEvent,
  addSystemStatus,
  fromFollowedInstance,
  type HealthReport,
  type Metrics,
  type RecentEvents,
} from "./live";
