/**
 * The built-in security backends, provided to the registry as this package's own imports. Written
 * as literal imports so that a bundler folds them into a bundled qvirsh or qvirtd (one copy of
 * @qvirt/core for the driver and its backends); unbundled, they are the files the registry would
 * have found anyway.
 */
import { provideSecurityPackage } from '@qvirt/core';

provideSecurityPackage('@qvirt/dac', () => import('@qvirt/dac'));
provideSecurityPackage('@qvirt/capng', () => import('@qvirt/capng'));
provideSecurityPackage('@qvirt/cgroup-devices', () => import('@qvirt/cgroup-devices'));
provideSecurityPackage('@qvirt/selinux-svirt', () => import('@qvirt/selinux-svirt'));
provideSecurityPackage('@qvirt/apparmor-svirt', () => import('@qvirt/apparmor-svirt'));
