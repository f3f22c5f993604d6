import type { CommandDef } from '../command.js';
import { BLOCK_JOB_COMMANDS } from './block-job.js';
import { domblkthresholdCommand } from './block-threshold.js';
import { capabilitiesCommand } from './capabilities.js';
import { consoleCommand } from './console.js';
import { CPU_COMMANDS } from './cpu.js';
import {
  attachDeviceCommand,
  attachInterfaceCommand,
  changeMediaCommand,
  detachDeviceAliasCommand,
  detachDeviceCommand,
  detachInterfaceCommand,
  updateDeviceCommand,
} from './device-hotplug.js';
import {
  domblkstatCommand,
  domidCommand,
  domifstatCommand,
  dominfoCommand,
  dommemstatCommand,
  domnameCommand,
  domstateCommand,
  domuuidCommand,
  dumpxmlCommand,
} from './domain-info.js';
import { JOB_COMMANDS } from './domain-job.js';
import {
  autostartCommand,
  createCommand,
  defineCommand,
  destroyCommand,
  dompmsuspendCommand,
  dompmwakeupCommand,
  rebootCommand,
  resumeCommand,
  shutdownCommand,
  startCommand,
  suspendCommand,
  undefineCommand,
} from './domain-lifecycle.js';
import { RESOURCE_COMMANDS } from './domain-resources.js';
import { TUNING_COMMANDS } from './domain-tuning.js';
import { domiftuneCommand } from './domiftune.js';
import { domxmlFromNativeCommand } from './domxml-from-native.js';
import { domxmlToNativeCommand } from './domxml-to-native.js';
import { dumpCommand } from './dump.js';
import { GUEST_AGENT_COMMANDS } from './guest-agent.js';
import { listCommand } from './list.js';
import { MIGRATE_TUNABLE_COMMANDS } from './migrate-tunables.js';
import { NODE_COMMANDS } from './node.js';
import { allocpagesCommand, freepagesCommand } from './node-pages.js';
import { POOL_COMMANDS } from './pool.js';
import { QEMU_COMMANDS } from './qemu.js';
import { SAVE_COMMANDS } from './save.js';
import { SECRET_COMMANDS } from './secret.js';
import { SNAPSHOT_COMMANDS } from './snapshot.js';
import { VOL_COMMANDS } from './volume.js';

/**
 * Every command qvirsh knows. To add one: write `commands/NAME.ts` exporting a `CommandDef`,
 * import it here and put it in this list (help lists commands in this order).
 */
export const COMMANDS: CommandDef[] = [
  // domain management
  attachDeviceCommand,
  attachInterfaceCommand,
  changeMediaCommand,
  detachInterfaceCommand,
  updateDeviceCommand,
  autostartCommand,
  consoleCommand,
  createCommand,
  defineCommand,
  destroyCommand,
  dompmsuspendCommand,
  dompmwakeupCommand,
  detachDeviceCommand,
  detachDeviceAliasCommand,
  domxmlFromNativeCommand,
  domxmlToNativeCommand,
  dumpxmlCommand,
  rebootCommand,
  resumeCommand,
  shutdownCommand,
  startCommand,
  suspendCommand,
  undefineCommand,
  ...SAVE_COMMANDS,
  dumpCommand,
  domblkthresholdCommand,
  // block jobs (block-job.ts)
  ...BLOCK_JOB_COMMANDS,
  freepagesCommand,
  allocpagesCommand,
  domiftuneCommand,
  ...SNAPSHOT_COMMANDS,
  // domain monitoring
  domblkstatCommand,
  domidCommand,
  domifstatCommand,
  dominfoCommand,
  dommemstatCommand,
  domnameCommand,
  domstateCommand,
  domuuidCommand,
  listCommand,
  // domain resources and statistics (domain-resources.ts)
  ...RESOURCE_COMMANDS,
  // a domain's long job (domain-job.ts)
  ...JOB_COMMANDS,
  ...MIGRATE_TUNABLE_COMMANDS,
  // tuning, IOThreads, keys and screens (domain-tuning.ts)
  ...TUNING_COMMANDS,
  // the guest agent (guest-agent.ts) and libvirt-qemu (qemu.ts)
  ...GUEST_AGENT_COMMANDS,
  ...QEMU_COMMANDS,
  // host and hypervisor
  capabilitiesCommand,
  ...CPU_COMMANDS,
  ...NODE_COMMANDS,
  // secrets
  ...SECRET_COMMANDS,
  // storage pools and volumes
  ...POOL_COMMANDS,
  ...VOL_COMMANDS,
];
