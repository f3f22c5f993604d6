export * from './conf/index.js';
export * from './domain/index.js';
export * from './errors.js';
export * from './schema/schema.js';
export * from './schema/value-types.js';
export * from './security/index.js';
export * from './uri/index.js';
export type { XmlElement, XmlNode } from './xml/xml-tree.js';
export { formatXml, parseXml } from './xml/xml-tree.js';
