export type { TestGuest, TestGuestManifest } from './locate.js';
export { testGuest, testGuestDir, whyNoTestGuest } from './locate.js';
export type { GuestDisk, GuestMount, GuestNic, GuestReport, GuestView } from './report.js';
export { GuestConsole, parseGuestReport, REPORT_MARK } from './report.js';
