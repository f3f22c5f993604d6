export * from '../secret/contract.js';
export * from '../storage/contract.js';
export * from './constants.js';
export * from './contract.js';
export * from './domain-state.js';
export * from './event-callbacks.js';
export * from './keycodes.js';
