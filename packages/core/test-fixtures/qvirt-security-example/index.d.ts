import type { SecurityDriver, SecurityDriverFactory } from '@qvirt/core';
export declare const DRIVER_NAME = 'qvirt-security-example';
declare const factory: SecurityDriverFactory;
export default factory;
export type ExampleDriver = SecurityDriver & { calls: string[] };
