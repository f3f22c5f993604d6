/**
 * Inputs, audio backends, graphics, video, sound and watchdog devices, in libvirt 9.0's order
 * (qemuBuildInputCommandLine, qemuBuildAudioCommandLine, qemuBuildGraphicsCommandLine,
 * qemuBuildVideoCommandLine, qemuBuildSoundCommandLine, qemuBuildWatchdogCommandLine).
 */
import { add, type Build } from '../build.js';
import { deviceAddressProps } from '../device-address.js';
import { jsonProps, type PropObject } from '../props.js';
import { virtioDevProps } from '../storage-virtio-props.js';
import type { InputDef, SoundDef } from './av-util.js';
import { audioIdString, internalError, tristate, unsupported } from './av-util.js';

export { audio } from './av-audio.js';
export { graphics } from './av-graphics.js';
export { video } from './av-video.js';

const USB_INPUT: Record<string, string> = { mouse: 'usb-mouse', tablet: 'usb-tablet', keyboard: 'usb-kbd' };
const VIRTIO_INPUT: Record<string, string> = {
  mouse: 'virtio-mouse',
  tablet: 'virtio-tablet',
  keyboard: 'virtio-keyboard',
  passthrough: 'virtio-input-host',
};

/** `<input type='evdev'>`: an input-linux object (qemuBuildInputEvdevProps). */
function evdevProps(input: InputDef): PropObject {
  const src = input.source ?? {};
  const props: PropObject = {
    'qom-type': 'input-linux',
    id: input.alias?.name,
    evdev: src.dev,
    repeat: tristate(src.repeat),
  };
  if (src.grab === 'all') props.grab_all = true;
  if (src.grabToggle && src.grabToggle !== 'default') props['grab-toggle'] = src.grabToggle;
  return props;
}

export function inputs(b: Build): void {
  for (const input of b.def.devices?.input ?? []) {
    const type = input.type ?? '';
    if (type === 'evdev') {
      add(b, '-object', jsonProps(evdevProps(input)));
      continue;
    }
    let props: PropObject | undefined;
    if (input.bus === 'usb') {
      props = { driver: USB_INPUT[type], id: input.alias?.name, ...deviceAddressProps(b.def, input) };
    } else if (input.bus === 'virtio') {
      const base = VIRTIO_INPUT[type];
      if (!base) throw unsupported(`input type '${type}' is not supported on the virtio bus`);
      props = {
        ...virtioDevProps(b.ctx, base, { address: input.address, driver: input.driver }),
        id: input.alias?.name,
        evdev: type === 'passthrough' ? input.source?.evdev : undefined,
        ...deviceAddressProps(b.def, input),
      };
    }
    // PS/2 (and Xen/parallels) inputs are built into the machine.
    if (props) add(b, '-device', jsonProps(props));
  }
}

/** QEMU's sound devices (qemuBuildSoundDevCmd); pcspk is `-soundhw`. */
const SOUND_DEVICE: Record<string, string> = {
  es1370: 'ES1370',
  ac97: 'AC97',
  ich6: 'intel-hda',
  usb: 'usb-audio',
  ich9: 'ich9-intel-hda',
  sb16: 'sb16',
};

const CODEC_DEVICE: Record<string, string> = {
  duplex: 'hda-duplex',
  micro: 'hda-micro',
  output: 'hda-output',
};

/** virDomainSoundModelSupportsCodecs. */
const hasCodecs = (s: SoundDef): boolean => s.model === 'ich6' || s.model === 'ich9';

function codec(b: Build, sound: SoundDef, type: string, cad: number): void {
  const alias = sound.alias?.name ?? '';
  add(
    b,
    '-device',
    jsonProps({
      driver: CODEC_DEVICE[type],
      id: `${alias}-codec${cad}`,
      bus: `${alias}.0`,
      cad,
      audiodev: audioIdString(b.def, sound.audio?.id),
    }),
  );
}

export function sounds(b: Build): void {
  for (const sound of b.def.devices?.sound ?? []) {
    const model = sound.model ?? '';
    if (model === 'pcspk') {
      add(b, '-soundhw', 'pcspk');
      continue;
    }
    const driver = SOUND_DEVICE[model];
    if (!driver) throw unsupported(`sound model '${model}' is not supported by QEMU`);
    add(
      b,
      '-device',
      jsonProps({
        driver,
        id: sound.alias?.name,
        audiodev: hasCodecs(sound) ? undefined : audioIdString(b.def, sound.audio?.id),
        ...deviceAddressProps(b.def, sound),
      }),
    );
    if (!hasCodecs(sound)) continue;
    const codecs = sound.codec ?? [];
    codecs.forEach((c, i) => {
      if (!CODEC_DEVICE[c.type ?? ''])
        throw unsupported(`sound codec type '${c.type ?? ''}' is not supported`);
      codec(b, sound, c.type ?? '', i);
    });
    if (codecs.length === 0) codec(b, sound, 'duplex', 0);
  }
}

const WATCHDOG_ACTIONS = new Set(['reset', 'shutdown', 'poweroff', 'pause', 'none', 'inject-nmi']);

export function watchdogs(b: Build): void {
  for (const w of b.def.devices?.watchdog ?? []) {
    add(b, '-device', jsonProps({ driver: w.model, id: w.alias?.name, ...deviceAddressProps(b.def, w) }));
    // QEMU has no 'dump' action: libvirt pauses the guest and dumps it itself.
    const action = w.action === 'dump' ? 'pause' : (w.action ?? 'reset');
    if (!WATCHDOG_ACTIONS.has(action)) throw internalError('invalid watchdog action');
    add(b, '-watchdog-action', action);
  }
}
