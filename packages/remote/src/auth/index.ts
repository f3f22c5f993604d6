export * from './digest-md5.js';
export * from './sasl-auth.js';
export * from './sasl-layer-stream.js';
export * from './sasl-mechanism.js';
export * from './scram.js';
export * from './user-db.js';
