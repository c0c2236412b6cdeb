// The zones feature's public face, for the app's live cache rules and route checks (the router
// imports the pages from their own files).
export { validateZonesSearch, validateZoneSearch, type ZonesSearch, type ZoneSearch } from "./search";
export { zoneKeys } from "./keys";
export { markZoneDeleted, patchZone, patchZoneInPage, removeRecords, removeZoneFromPage, upsertRecord, type ZoneView } from "./cache";
export { RECORD_TYPES, type DnsRecord, type Page, type RecordType, type Zone } from "./api";
