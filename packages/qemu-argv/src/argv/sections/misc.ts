/**
 * Memory balloon, memory modules, sPAPR NVRAM, vmcoreinfo, panic notifiers, shared memory and
 * vsock, as libvirt 9.0 builds them (qemuBuildMemballoonCommandLine,
 * qemuBuildMemoryDeviceCommandLine, qemuBuildNVRAMCommandLine, qemuBuildVMCoreInfoCommandLine,
 * qemuBuildPanicCommandLine, qemuBuildShmemCommandLine, qemuBuildVsockCommandLine).
 */
import { type DomainDef, isIsaAddress, isPciAddress, virReportError } from '@qvirt/core';
import { hasFlag } from '../../caps/qemu-caps.js';
import { scaledToBytes } from '../../domain-util.js';
import { add, type Build } from '../build.js';
import { deviceAddressProps } from '../device-address.js';
import { jsonProps, opts, type PropObject } from '../props.js';
import { virtioDevProps } from '../storage-virtio-props.js';
import { internalError, tristate, unsupported } from './av-util.js';
import {
  type BackendMemory,
  memoryBackendProps,
  memoryPagesize,
  threadContextProps,
} from './head-memory-backend.js';
import { parseBitmap, toKiB } from './head-util.js';

type Devs = NonNullable<DomainDef['devices']>;
type MemoryDeviceDef = NonNullable<Devs['memory']>[number];
type ShmemDef = NonNullable<Devs['shmem']>[number];

export function memballoon(b: Build): void {
  const m = b.def.devices?.memballoon;
  if (!m?.model || m.model === 'none') return;
  add(
    b,
    '-device',
    jsonProps({
      ...virtioDevProps(b.ctx, 'virtio-balloon', m),
      id: m.alias?.name,
      'deflate-on-oom': tristate(m.autodeflate),
      'free-page-reporting': tristate(m.freePageReporting),
      ...deviceAddressProps(b.def, m),
    }),
  );
}

const MEMORY_DEVICE: Record<string, string> = {
  dimm: 'pc-dimm',
  nvdimm: 'nvdimm',
  'virtio-pmem': 'virtio-pmem-pci',
  'virtio-mem': 'virtio-mem-pci',
};

/**
 * A module's size (KiB) as libvirt aligns it before start (qemuDomainAlignMemorySizes): 2 MiB
 * steps, 256 MiB on ppc64.
 */
function moduleSize(def: DomainDef, mem: MemoryDeviceDef): bigint {
  const align = /^ppc64/.test(def.os?.type?.arch ?? '') ? 256n * 1024n : 2048n;
  const size = toKiB(mem.target?.size);
  return ((size + align - 1n) / align) * align;
}

/** A memory module as the backend builder sees it (libvirt's virDomainMemoryDef, KiB). */
function backendMemory(def: DomainDef, mem: MemoryDeviceDef, alias: string): BackendMemory {
  const src = mem.source;
  const nodemask = src?.nodemask;
  return {
    size: moduleSize(def, mem),
    targetNode: mem.target?.node ?? -1,
    alias,
    model: mem.model,
    access: mem.access === 'shared' || mem.access === 'private' ? mem.access : undefined,
    discard: mem.discard,
    pagesize: src?.pagesize ? toKiB(src.pagesize) : 0n,
    nvdimmPath: src?.path,
    nvdimmPmem: src?.pmem === true ? true : undefined,
    alignsize: src?.alignsize ? toKiB(src.alignsize) : undefined,
    sourceNodes: nodemask ? parseBitmap(nodemask) : undefined,
  };
}

/** `p:` of virJSONValueObjectAdd: a positive number, or left out. */
const positive = (n: bigint): number | undefined => (n > 0n ? Number(n) : undefined);

/** `<memory>` modules: each one's backend object, then its device (sgx-epc goes to -machine). */
export function memoryDevices(b: Build): void {
  for (const mem of b.def.devices?.memory ?? []) {
    const alias = mem.alias?.name;
    if (!alias) throw internalError('memory device alias is not assigned');
    const memdev = `mem${alias}`;
    const backendMem = backendMemory(b.def, mem, memdev);
    const { props: backend } = memoryBackendProps(b, { ...backendMem }, true, false);
    const tc = threadContextProps(b, backend);
    if (tc) add(b, '-object', jsonProps(tc));
    add(b, '-object', jsonProps(backend));

    const model = mem.model ?? '';
    if (model === 'sgx-epc') continue;
    const driver = MEMORY_DEVICE[model];
    if (!driver) throw unsupported(`memory device model '${model}' is not supported`);
    let prealloc = false;
    if (model === 'virtio-mem' && hasFlag(b.ctx.caps, 'virtio-mem-pci.prealloc')) {
      prealloc = memoryPagesize(b, backendMem).prealloc;
    }
    const t = mem.target;
    const props: PropObject = {
      driver,
      node: t?.node !== undefined && t.node >= 0 ? t.node : undefined,
      'label-size': positive(toKiB(t?.label?.size) * 1024n),
      'block-size': positive(toKiB(t?.block) * 1024n),
      'requested-size': positive(toKiB(t?.requested) * 1024n),
      uuid: mem.uuid,
      unarmed: t?.readonly ? true : undefined,
      memdev,
      prealloc: prealloc ? true : undefined,
      id: alias,
      ...deviceAddressProps(b.def, mem),
    };
    add(b, '-device', jsonProps(props));
  }
}

/** sPAPR NVRAM: its register as a global property. */
export function nvram(b: Build): void {
  const n = b.def.devices?.nvram;
  if (!n) return;
  const a = n.address as { type?: string; reg?: number } | undefined;
  const reg = a?.type === 'spapr-vio' ? (a.reg ?? 0) : 0;
  add(b, '-global', `spapr-nvram.reg=0x${reg.toString(16)}`);
}

/** `<vmcoreinfo/>` without a state is on (virDomainFeaturesDefParse). */
export function vmcoreinfo(b: Build): void {
  const f = b.def.features?.vmcoreinfo;
  if (f && (f.state ?? 'on') === 'on') add(b, '-device', jsonProps({ driver: 'vmcoreinfo' }));
}

/** Only the ISA pvpanic is a device; hyperv/s390/pseries notifiers are CPU or machine features. */
export function panics(b: Build): void {
  for (const p of b.def.devices?.panic ?? []) {
    if (p.model !== 'isa') continue;
    const props: PropObject = { driver: 'pvpanic' };
    // pvpanic calls its I/O port `ioport`, not `iobase`
    if (isIsaAddress(p.address)) props.ioport = p.address.iobase ?? 0;
    add(b, '-device', jsonProps(props));
  }
}

function shmemSize(s: ShmemDef): bigint {
  if (s.size?.value === undefined) return 0n;
  const bytes = scaledToBytes(s.size.value, s.size.unit, 'B');
  if (bytes === undefined) throw unsupported(`unknown unit '${s.size.unit}' of shmem size`);
  return bytes;
}

function shmem(b: Build, s: ShmemDef): void {
  const alias = s.alias?.name ?? '';
  const name = s.name ?? '';
  if (name.includes('/')) throw unsupported(`shmem name '${name}' must not contain '/'`);
  const size = shmemSize(s);
  if (size) {
    if (size & (size - 1n)) throw virReportError('XML_ERROR', 'qemu', 'shmem size must be a power of two');
    if (size < 1024n * 1024n) {
      throw virReportError('XML_ERROR', 'qemu', 'shmem size must be at least 1 MiB (1024 KiB)');
    }
  }
  if (!isPciAddress(s.address)) {
    throw unsupported("only 'pci' addresses are supported for the shared memory device");
  }
  const model = s.model?.type ?? 'ivshmem';
  if (model !== 'ivshmem-plain' && model !== 'ivshmem-doorbell') {
    throw unsupported(`${model} device is not supported with this QEMU binary`);
  }
  const server = s.server !== undefined;
  if (model === 'ivshmem-plain') {
    add(
      b,
      '-object',
      jsonProps({
        'qom-type': 'memory-backend-file',
        id: `shmmem-${alias}`,
        'mem-path': `/dev/shm/${name}`,
        size: Number(size),
        share: true,
      }),
    );
  }
  const master = s.role === 'master' ? 'on' : s.role === 'peer' ? 'off' : undefined;
  add(
    b,
    '-device',
    jsonProps({
      driver: model,
      id: alias,
      chardev: server ? `char${alias}` : undefined,
      memdev: server ? undefined : `shmmem-${alias}`,
      master: server ? undefined : master,
      vectors: s.msi?.vectors ? s.msi.vectors : undefined,
      ioeventfd: tristate(s.msi?.ioeventfd),
      ...deviceAddressProps(b.def, s),
    }),
  );
  if (server) {
    const path = s.server?.path ?? `/var/lib/libvirt/shmem-${name}-sock`;
    add(
      b,
      '-chardev',
      opts('socket', [
        ['id', `char${alias}`],
        ['path', path],
      ]),
    );
  }
}

export function shmems(b: Build): void {
  for (const s of b.def.devices?.shmem ?? []) shmem(b, s);
}

export function vsock(b: Build): void {
  const v = b.def.devices?.vsock;
  if (!v) return;
  add(
    b,
    '-device',
    jsonProps({
      ...virtioDevProps(b.ctx, 'vhost-vsock', v),
      id: v.alias?.name,
      'guest-cid': v.cid?.address ?? 0,
      // domxml-to-native opens no vhost-vsock descriptor
      vhostfd: '-1',
      ...deviceAddressProps(b.def, v),
    }),
  );
}
