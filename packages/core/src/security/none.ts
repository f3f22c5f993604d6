/**
 * The `none` driver (libvirt's security_nop.c): always enabled, model `none`, DOI `0`, every
 * hook succeeds doing nothing. Built into the registry.
 */
import type { SecurityDriver, SecurityDriverFactory } from './driver.js';

export const NONE_DRIVER_NAME = 'none';

export const noneSecurityDriver: SecurityDriverFactory = Object.assign(
  (): SecurityDriver => ({
    name: NONE_DRIVER_NAME,
    probe: () => 'enable',
    getModel: () => 'none',
    getDOI: () => '0',
    async domainGenSecurityLabel() {},
    async domainReserveSecurityLabel() {},
    async domainReleaseSecurityLabel() {},
    async domainSetSecurityAllLabel() {},
    async domainRestoreSecurityAllLabel() {},
    async domainSetSecurityChildProcessLabel() {},
    async domainSecurityVerify() {},
  }),
  { driverName: NONE_DRIVER_NAME },
);
