export * from './cache.js';
export * from './capabilities.js';
export * from './caps-xml.js';
export * from './discover.js';
export * from './host-prober.js';
export * from './ids.js';
export * from './probe.js';
export * from './qapi-schema.js';
export { ProbeError, QmpCommandError, QmpSession } from './qmp.js';
