import type { CommandDef } from '../command.js';
import { domxmlToNativeCommand } from './domxml-to-native.js';

/** Every command qvirsh knows, by name. */
export const COMMANDS: CommandDef[] = [domxmlToNativeCommand];
