/**
 * Write thresholds on a running disk's images (qemu_driver.c qemuDomainSetBlockThreshold and
 * qemu_process.c qemuProcessHandleBlockThreshold), as oVirt watches its thin disks: QMP
 * `block-set-write-threshold` on the image's storage node (libvirt 9.0 takes src->nodestorage),
 * chosen by target (`vda`, the top image) or by backing index (`vda[1]`, the image whose id is
 * 1, as libvirt numbers its `libvirt-N-*` nodes). When a guest write crosses it QEMU sends
 * BLOCK_WRITE_THRESHOLD once and forgets the threshold; the driver turns it into
 * VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD: one for `vda[N]`, and one for `vda` as well when the top
 * image's threshold was set without an index.
 */
import { virCheckFlags, virReportError } from '@qvirt/core';
import { type DomainEvent, VIR_DOMAIN_EVENT_ID } from '@qvirt/core/hypervisor';
import { queryChain } from './block-jobs.js';
import type { LiveDomain } from './live-domain.js';
import { operationInvalid } from './live-domain.js';
import type { DomDisk } from './snapshot-external.js';

/** What a threshold was set on, to name the event (libvirt keeps it in the virStorageSource). */
interface Registered {
  target: string;
  id: number;
  top: boolean;
  /** src->thresholdEventWithIndex */
  withIndex: boolean;
  path?: string;
}

/** Per run of a domain (its QEMU's pid), storage node → what it is. */
const registry = new Map<string, Map<string, Registered>>();
const runKey = (dom: { uuid: string; pid?: number }) => `${dom.uuid}:${dom.pid ?? ''}`;

/** virStorageFileParseBackingStoreStr: `vda` → (vda, 0), `vda[2]` → (vda, 2). */
function parseDevstr(devstr: string): { target: string; index: number } | undefined {
  const open = devstr.indexOf('[');
  if (open < 0) return { target: devstr, index: 0 };
  const m = /^(\d+)\]$/.exec(devstr.slice(open + 1));
  if (!m) return undefined;
  return { target: devstr.slice(0, open), index: Number(m[1]) };
}

/** qemuDomainSetBlockThreshold. */
export async function setBlockThreshold(
  dom: LiveDomain,
  devstr: string,
  threshold: number,
  flags: number,
): Promise<void> {
  virCheckFlags(flags, 0, 'qemuDomainSetBlockThreshold');
  if (!dom.active || !dom.live) throw operationInvalid('domain is not running');
  // qemuDomainGetStorageSourceByDevstr
  const parsed = parseDevstr(devstr);
  if (!parsed) throw virReportError('INVALID_ARG', 'qemu', `failed to parse block device '${devstr}'`);
  const disk = ((dom.live.devices?.disk ?? []) as DomDisk[]).find((d) => d.target?.dev === parsed.target);
  if (!disk) throw virReportError('INVALID_ARG', 'qemu', `failed to find disk '${parsed.target}'`);
  if ((disk as { type?: string }).type === 'vhostuser')
    throw virReportError(
      'OPERATION_UNSUPPORTED',
      'qemu',
      'setting device threshold is not supported for vhostuser disk',
    );
  const mon = await dom.monitor();
  const chain = await queryChain(mon, disk);
  const layers = chain.map((l, i) => ({ ...l, i, id: Number(/^libvirt-(\d+)-/.exec(l.node)?.[1] ?? 0) }));
  const layer = parsed.index === 0 ? layers[0] : layers.find((l) => l.id === parsed.index);
  if (!layer) throw virReportError('INVALID_ARG', 'qemu', `failed to find disk '${devstr}'`);
  // an image without libvirt's node names (none in a qvirt run) is set on its format node
  const node = layer.id ? `libvirt-${layer.id}-storage` : layer.node;
  await mon.execute('block-set-write-threshold', { 'node-name': node, 'write-threshold': threshold });
  let nodes = registry.get(runKey(dom));
  if (!nodes) registry.set(runKey(dom), (nodes = new Map()));
  nodes.set(node, {
    target: parsed.target,
    id: layer.id,
    top: layer.i === 0,
    withIndex: devstr.includes('['),
    ...(layer.type === 'file' || layer.type === 'block' ? { path: layer.path } : {}),
  });
}

/** qemuProcessHandleBlockThreshold: the events of QEMU's BLOCK_WRITE_THRESHOLD. */
export function blockThresholdEvents(
  dom: { uuid: string; pid?: number },
  data: { 'node-name'?: string; 'amount-exceeded'?: number; 'write-threshold'?: number } | undefined,
): Array<Omit<DomainEvent, 'dom'>> {
  const node = data?.['node-name'];
  const src = node ? registry.get(runKey(dom))?.get(node) : undefined;
  if (!src) return [];
  const fields = {
    eventID: VIR_DOMAIN_EVENT_ID.BLOCK_THRESHOLD,
    path: src.path ?? null,
    threshold: data?.['write-threshold'] ?? 0,
    excess: data?.['amount-exceeded'] ?? 0,
  };
  const out: Array<Omit<DomainEvent, 'dom'>> = [];
  if (src.top && !src.withIndex) out.push({ ...fields, dev: src.target });
  if (src.id !== 0) out.push({ ...fields, dev: `${src.target}[${src.id}]` });
  return out;
}

/** Forgets a run's thresholds (its nodes go with its QEMU). */
export function forgetBlockThresholds(dom: { uuid: string; pid?: number }): void {
  registry.delete(runKey(dom));
}
