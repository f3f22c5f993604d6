import type { CommandDef } from '../command.js';
import { capabilitiesCommand } from './capabilities.js';
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
import {
  autostartCommand,
  createCommand,
  defineCommand,
  destroyCommand,
  rebootCommand,
  resumeCommand,
  shutdownCommand,
  startCommand,
  suspendCommand,
  undefineCommand,
} from './domain-lifecycle.js';
import { domxmlFromNativeCommand } from './domxml-from-native.js';
import { domxmlToNativeCommand } from './domxml-to-native.js';
import { listCommand } from './list.js';

/**
 * Every command qvirsh knows. To add one: write `commands/NAME.ts` exporting a `CommandDef`,
 * import it here and put it in this list (help lists commands in this order).
 */
export const COMMANDS: CommandDef[] = [
  // domain management
  autostartCommand,
  createCommand,
  defineCommand,
  destroyCommand,
  domxmlFromNativeCommand,
  domxmlToNativeCommand,
  dumpxmlCommand,
  rebootCommand,
  resumeCommand,
  shutdownCommand,
  startCommand,
  suspendCommand,
  undefineCommand,
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
  // host and hypervisor
  capabilitiesCommand,
];
