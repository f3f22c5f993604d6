import type { PostParseStep } from './index.js';
import {
  diskDefaults,
  diskOrder,
  implicitAudio,
  implicitControllers,
  implicitInputs,
  implicitMemballoon,
} from './steps/devices.js';

/** Device defaults and the devices libvirt adds implicitly. */
export const DEVICE_STEPS: PostParseStep[] = [
  diskDefaults,
  diskOrder,
  implicitControllers,
  implicitInputs,
  implicitAudio,
  implicitMemballoon,
];
