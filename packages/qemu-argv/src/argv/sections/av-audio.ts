/**
 * `<audio>` backends: one `-audiodev` each, id `audioN` (qemuBuildAudioCommandLineArg). Common
 * input/output settings first, then the backend's own, in libvirt's key order.
 */
import { add, type Build } from '../build.js';
import { jsonProps, type PropObject } from '../props.js';
import type { AudioDef } from './av-util.js';
import { tristate, unsupported } from './av-util.js';

type AudioIO = NonNullable<AudioDef['input']>;
/** Every backend's input/output attributes (the model keeps each backend's own). */
type AnyIO = AudioIO & {
  dev?: string;
  bufferCount?: number;
  serverName?: string;
  clientName?: string;
  connectPorts?: string;
  exactName?: 'yes' | 'no';
  tryPoll?: 'yes' | 'no';
  name?: string;
  streamName?: string;
  latency?: number;
};
type AnyAudio = AudioDef & {
  tryMMap?: 'yes' | 'no';
  exclusive?: 'yes' | 'no';
  dspPolicy?: number;
  serverName?: string;
  driver?: string;
  path?: string;
};

/** libvirt's audio type names that QEMU spells differently (qemuAudioDriverTypeToString). */
const QEMU_DRIVER: Record<string, string> = { pulseaudio: 'pa', file: 'wav' };

const KNOWN = new Set([
  'none',
  'alsa',
  'coreaudio',
  'jack',
  'oss',
  'pulseaudio',
  'sdl',
  'spice',
  'file',
  'dbus',
]);

/** `p:` of virJSONValueObjectAdd: a positive number, or left out. */
const positive = (n: number | undefined): number | undefined => (n ? n : undefined);

/** qemuBuildAudioCommonProps: frequency, channels and format only with fixed settings. */
function commonProps(io: AudioIO | undefined): PropObject {
  const fixed = io?.fixedSettings === 'yes';
  const s = io?.settings;
  return {
    'mixing-engine': tristate(io?.mixingEngine),
    'fixed-settings': tristate(io?.fixedSettings),
    voices: positive(io?.voices),
    'buffer-length': positive(io?.bufferLength),
    frequency: fixed ? positive(s?.frequency) : undefined,
    channels: fixed ? positive(s?.channels) : undefined,
    format: fixed && s?.format ? s.format : undefined,
  };
}

function backendIOProps(type: string, io: AnyIO | undefined): PropObject {
  switch (type) {
    case 'alsa':
      return { dev: io?.dev };
    case 'coreaudio':
    case 'sdl':
      return { 'buffer-count': positive(io?.bufferCount) };
    case 'jack':
      return {
        'server-name': io?.serverName,
        'client-name': io?.clientName,
        'connect-ports': io?.connectPorts,
        'exact-name': tristate(io?.exactName),
      };
    case 'oss':
      return { dev: io?.dev, 'buffer-count': positive(io?.bufferCount), 'try-poll': tristate(io?.tryPoll) };
    case 'pulseaudio':
      return { name: io?.name, 'stream-name': io?.streamName, latency: positive(io?.latency) };
    default:
      return {};
  }
}

/** An object with no members is left out, as libvirt's JSON builder does. */
function nonEmpty(o: PropObject): PropObject | undefined {
  return Object.values(o).some((v) => v !== undefined) ? o : undefined;
}

export function audio(b: Build): void {
  for (const a of (b.def.devices?.audio ?? []) as AnyAudio[]) {
    const type = a.type ?? 'none';
    if (!KNOWN.has(type)) throw unsupported(`audio backend type '${type}' is not supported`);
    const props: PropObject = {
      id: `audio${a.id ?? 0}`,
      driver: QEMU_DRIVER[type] ?? type,
      'timer-period': positive(a.timerPeriod),
    };
    const input = { ...commonProps(a.input), ...backendIOProps(type, a.input as AnyIO | undefined) };
    const output = { ...commonProps(a.output), ...backendIOProps(type, a.output as AnyIO | undefined) };
    if (type === 'oss') {
      props['try-mmap'] = tristate(a.tryMMap);
      props.exclusive = tristate(a.exclusive);
      props['dsp-policy'] = a.dspPolicy;
    } else if (type === 'pulseaudio') {
      props.server = a.serverName;
    } else if (type === 'sdl') {
      if (a.driver) b.env.push(['SDL_AUDIODRIVER', a.driver]);
    } else if (type === 'file') {
      props.path = a.path;
    }
    props.in = nonEmpty(input);
    props.out = nonEmpty(output);
    add(b, '-audiodev', jsonProps(props));
  }
}
