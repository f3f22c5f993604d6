export * from './common.js';
export * from './domain-schema.js';
export * from './domain-xml.js';
