export * from './client-transports.js';
export * from './network-config.js';
export * from './sasl-passwd.js';
export * from './ssh.js';
export * from './ssh-helper.js';
export * from './tcp.js';
export * from './tls.js';
export * from './x509.js';
