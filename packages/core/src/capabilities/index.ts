export * from './capabilities-xml.js';
export * from './host-description.js';
