export * from './domain-schema.js';
export * from './domain-xml.js';
export type { Address } from './common.js';
