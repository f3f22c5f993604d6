/**
 * Helpers of the audio/video sections: errors in libvirt's wording, the `<audio>` backend a device
 * refers to, on/off tristates and the host's DRM render node.
 */
import { readdirSync } from 'node:fs';
import { type DomainDef, type VirError, virReportError, virReportSystemError } from '@qvirt/core';

export function unsupported(message: string): VirError {
  return virReportError('CONFIG_UNSUPPORTED', 'qemu', message);
}

export function internalError(message: string): VirError {
  return virReportError('INTERNAL_ERROR', 'qemu', message);
}

/** A yes/no or on/off attribute as a JSON boolean; absent stays absent (libvirt's `T:`). */
export function tristate(v: string | undefined): boolean | undefined {
  if (v === 'yes' || v === 'on') return true;
  if (v === 'no' || v === 'off') return false;
  return undefined;
}

/**
 * The QEMU id (`audioN`) of the `<audio>` backend with the given id; id 0 (none given) is the
 * first backend (virDomainDefFindAudioByID, qemuGetAudioIDString).
 */
export function audioIdString(def: DomainDef, id: number | undefined): string {
  const audios = def.devices?.audio ?? [];
  const audio = id ? audios.find((a) => a.id === id) : audios[0];
  if (!audio) throw internalError('unable to find audio backend for sound device');
  return `audio${audio.id ?? 0}`;
}

/**
 * The first DRM render node of the host (virHostGetDRMRenderNode), picked when a graphics device
 * or vhost-user GPU wants OpenGL but names no render node.
 */
export function hostDrmRenderNode(dir = '/dev/dri'): string {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    throw virReportSystemError(err, 'qemu', `cannot open directory '${dir}'`);
  }
  const node = entries.find((e) => e.startsWith('renderD'));
  if (!node) throw internalError('No DRM render nodes available');
  return `${dir}/${node}`;
}

type Devs = NonNullable<DomainDef['devices']>;
export type InputDef = NonNullable<Devs['input']>[number];
export type SoundDef = NonNullable<Devs['sound']>[number];
export type AudioDef = NonNullable<Devs['audio']>[number];
export type VideoDef = NonNullable<Devs['video']>[number];
export type GraphicsDef = NonNullable<Devs['graphics']>[number];
export type GraphicsListenDef = NonNullable<GraphicsOf<'vnc'>['listens']>[number];
/** One graphics type's model (comparing `type` does not narrow the union with its fallback). */
export type GraphicsOf<T extends string> = Extract<GraphicsDef, { type?: T }>;
