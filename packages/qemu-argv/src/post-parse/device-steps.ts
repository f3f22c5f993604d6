import type { PostParseStep } from './index.js';
import {
  chardevSources,
  chrDefaults,
  chrParsePorts,
  consoleAliasesSerial,
  consoleCompat,
  isaSerialPorts,
} from './steps/devices-chr.js';
import {
  assignControllerIndexes,
  controllerModels,
  controllerParseOrder,
  hostdevScsiAddresses,
  implicitControllers,
  machineControllers,
  parseHostdevScsiControllers,
} from './steps/devices-controllers.js';
import {
  defaultAudio,
  graphicsPostParse,
  implicitVideo,
  primaryVideo,
  videoDefaults,
  videoParseOrder,
} from './steps/devices-display.js';
import { fixedUnitSizes, inactiveForm } from './steps/devices-inactive.js';
import {
  diskDefaults,
  diskParseOrder,
  implicitInputs,
  implicitMemballoon,
  netDefaults,
  otherDeviceDefaults,
} from './steps/devices-misc.js';
import { netParseQuirks } from './steps/devices-net-parse.js';
import { deviceParseDefaults } from './steps/devices-parse-defaults.js';

/**
 * Device defaults and the devices libvirt adds implicitly, in libvirt 9.0's order: what the parser
 * does while reading `<devices>`, controller indexes, qemuDomainDefAddDefaultDevices, the per-device
 * post-parse, then virDomainDefPostParseCommon's implicit devices, primary video and graphics.
 */
export const DEVICE_STEPS: PostParseStep[] = [
  // parse time
  diskParseOrder,
  controllerParseOrder,
  parseHostdevScsiControllers,
  videoParseOrder,
  chrParsePorts,
  // virDomainAssignControllerIndexes
  assignControllerIndexes,
  // qemuDomainDefAddDefaultDevices
  implicitInputs,
  machineControllers,
  implicitMemballoon,
  defaultAudio,
  // virDomainChrIsaSerialDefPostParse
  isaSerialPorts,
  // per-device post-parse
  netParseQuirks,
  diskDefaults,
  netDefaults,
  videoDefaults,
  controllerModels,
  chrDefaults,
  chardevSources,
  hostdevScsiAddresses,
  otherDeviceDefaults,
  deviceParseDefaults,
  // virDomainDefPostParseCommon
  consoleCompat,
  implicitControllers,
  implicitVideo,
  primaryVideo,
  controllerModels,
  graphicsPostParse,
  consoleAliasesSerial,
  // what the inactive, non-secure format leaves out
  inactiveForm,
  fixedUnitSizes,
];
