/**
 * The `<domain>` document, in libvirt 9.0's canonical order (virDomainDefFormatInternal).
 * Families live in their own modules; this one only orders them.
 */
import type { Infer } from '../schema/schema.js';
import { element, leaf, many, one } from '../schema/schema.js';
import { enumOf, str } from '../schema/value-types.js';
import { channel, console, parallel, serial } from './chardev.js';
import {
  audio,
  controller,
  graphics,
  input,
  iommu,
  memballoon,
  memory as memoryDevice,
  nvram,
  panic,
  rng,
  shmem,
  sound,
  tpm,
  video,
  vsock,
  watchdog,
} from './devices-misc.js';
import * as g from './general.js';
import { hostdev, hub, interfaceDevice, redirdev, redirfilter, smartcard } from './net-hostdev.js';
import { disk, filesystem, lease } from './storage.js';

/** libvirt's virDomainVirtType names. */
export const VIRT_TYPES = [
  'none',
  'qemu',
  'kqemu',
  'kvm',
  'xen',
  'lxc',
  'uml',
  'openvz',
  'test',
  'vmware',
  'hyperv',
  'vbox',
  'phyp',
  'parallels',
  'bhyve',
  'vz',
  'hvf',
] as const;

export const lifecycleAction = enumOf(
  'destroy',
  'restart',
  'rename-restart',
  'preserve',
  'coredump-destroy',
  'coredump-restart',
);

export const devices = element({
  children: {
    emulator: one(leaf(str())),
    disk: many(disk),
    controller: many(controller),
    lease: many(lease),
    filesystem: many(filesystem),
    interface: many(interfaceDevice),
    smartcard: many(smartcard),
    serial: many(serial),
    parallel: many(parallel),
    console: many(console),
    channel: many(channel),
    input: many(input),
    tpm: many(tpm),
    graphics: many(graphics),
    sound: many(sound),
    audio: many(audio),
    video: many(video),
    hostdev: many(hostdev),
    redirdev: many(redirdev),
    redirfilter: one(redirfilter),
    hub: many(hub),
    watchdog: many(watchdog),
    memballoon: one(memballoon),
    rng: many(rng),
    nvram: one(nvram),
    panic: many(panic),
    shmem: many(shmem),
    memory: many(memoryDevice),
    iommu: one(iommu),
    vsock: one(vsock),
  },
});

export const domain = element({
  attrs: { type: str(), id: str() },
  children: {
    name: one(leaf(str())),
    uuid: one(leaf(str())),
    genid: one(leaf(str())),
    title: one(leaf(str())),
    description: one(leaf(str())),
    metadata: one(g.metadata),
    maxMemory: one(g.maxMemory),
    memory: one(g.memory),
    currentMemory: one(g.currentMemory),
    blkiotune: one(g.blkiotune),
    memtune: one(g.memtune),
    memoryBacking: one(g.memoryBacking),
    vcpu: one(g.vcpu),
    vcpus: one(g.vcpus),
    iothreads: one(g.iothreads),
    iothreadids: one(g.iothreadids),
    defaultiothread: one(g.defaultiothread),
    cputune: one(g.cputune),
    numatune: one(g.numatune),
    resource: one(g.resource),
    sysinfo: many(g.sysinfo),
    bootloader: one(leaf(str())),
    bootloader_args: one(leaf(str())),
    os: one(g.os),
    idmap: one(g.idmap),
    features: one(g.features),
    cpu: one(g.cpu),
    clock: one(g.clock),
    on_poweroff: one(leaf(lifecycleAction)),
    on_reboot: one(leaf(lifecycleAction)),
    on_crash: one(leaf(lifecycleAction)),
    on_lockfailure: one(leaf(enumOf('poweroff', 'restart', 'pause', 'ignore'))),
    pm: one(g.pm),
    perf: one(g.perf),
    devices: one(devices),
    seclabel: many(g.seclabel),
    keywrap: one(g.keywrap),
    launchSecurity: one(g.launchSecurity),
    qemuCommandline: one(g.qemuCommandline, 'qemu:commandline'),
    qemuCapabilities: one(g.qemuCapabilities, 'qemu:capabilities'),
    qemuOverride: one(g.qemuOverride, 'qemu:override'),
    qemuDeprecation: one(g.qemuDeprecation, 'qemu:deprecation'),
  },
});

export type RawDomainDef = Infer<typeof domain>;
export type DomainDevices = Infer<typeof devices>;
