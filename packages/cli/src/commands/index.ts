import type { CommandDef } from '../command.js';
import { domxmlFromNativeCommand } from './domxml-from-native.js';
import { domxmlToNativeCommand } from './domxml-to-native.js';

/** Every command qvirsh knows, by name. */
export const COMMANDS: CommandDef[] = [domxmlFromNativeCommand, domxmlToNativeCommand];
