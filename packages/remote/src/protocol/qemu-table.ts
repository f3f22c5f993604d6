/**
 * The QEMU program's rows (qemu_protocol.x, libvirt-qemu's APIs): for each method, its
 * QEMU_PROC_ procedure. They are hypervisor methods served like the others (dispatch-table.ts);
 * program.ts puts them in the QEMU program and the client calls them there. Monitor events are
 * the connection's (program.ts), and virDomainQemuMonitorCommandWithFiles needs fd passing,
 * which qvirt's transport does not do: it answers as an unsupporting driver.
 */
import type { HypervisorDriver } from '@qvirt/core/hypervisor';
import { type ContractTable, type QemuMethod, qemuRow } from './rows.js';

export const QEMU_TABLE: ContractTable<Pick<HypervisorDriver, QemuMethod>> = {
  domainQemuMonitorCommand: qemuRow('DOMAIN_MONITOR_COMMAND'),
  domainQemuAgentCommand: qemuRow('DOMAIN_AGENT_COMMAND'),
  domainQemuAttach: qemuRow('DOMAIN_ATTACH'),
};
