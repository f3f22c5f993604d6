/**
 * Device post-parse steps live in `devices-*.ts` by family: `devices-controllers.ts`,
 * `devices-chr.ts`, `devices-display.ts` and `devices-misc.ts`; `device-steps.ts` orders them.
 */
export * from './devices-chr.js';
export * from './devices-controllers.js';
export * from './devices-display.js';
export * from './devices-misc.js';
