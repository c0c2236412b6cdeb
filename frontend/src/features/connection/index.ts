// The connection feature's public face: the header indicator and the "not live" banner.
export { ConnectionStatus } from "./ConnectionStatus";
export { LiveBanner } from "./LiveBanner";
