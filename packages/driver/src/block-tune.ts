/**
 * A running disk's size and I/O throttling, as libvirt 9.0's QEMU driver changes them
 * (qemu_driver.c qemuDomainBlockResize, qemuDomainGetBlockIoTune, qemuDomainSetBlockIoTune with
 * qemuDomainSetBlockIoTuneDefaults and its checks): QMP `block_resize` on the disk's top node,
 * `block_set_io_throttle` on its device and `query-block` to read the throttling back; the
 * definitions keep `<iotune>`.
 */
import { type DomainDef, virCheckFlags, virReportError } from '@qvirt/core';
import {
  type TypedParam,
  type TypedParamsReply,
  VIR_DOMAIN_AFFECT,
  VIR_DOMAIN_EVENT_ID,
  VIR_TYPED_PARAM,
  VIR_TYPED_PARAM_STRING_OKAY,
} from '@qvirt/core/hypervisor';
import { validateTypedParams } from './cgroup-tuning.js';
import { diskEntryName, findDisk } from './domain-stats.js';
import { affectedDefs, copyDef, type LiveDomain, operationInvalid } from './live-domain.js';

const A = VIR_DOMAIN_AFFECT;
const invalidArg = (msg: string) => virReportError('INVALID_ARG', 'qemu', msg);

/** VIR_DOMAIN_BLOCK_RESIZE_BYTES */
export const BLOCK_RESIZE_BYTES = 1;

type Disk = NonNullable<NonNullable<DomainDef['devices']>['disk']>[number];

interface QmpBlock {
  device?: string;
  qdev?: string;
  inserted?: Record<string, unknown> & { 'node-name'?: string };
}

/** The disk's `query-block` entry (by its device with -blockdev, by drive-ALIAS otherwise). */
async function blockEntry(dom: LiveDomain, disk: Disk): Promise<QmpBlock | undefined> {
  const alias = disk.alias?.name;
  const qom = diskEntryName(disk);
  const list = await (await dom.monitor()).execute<QmpBlock[]>('query-block');
  return list.find(
    (b) => (qom && b.qdev === qom) || (alias && (b.device === `drive-${alias}` || b.device === alias)),
  );
}

/** qemuDomainBlockResize: `size` in KiB, or bytes with VIR_DOMAIN_BLOCK_RESIZE_BYTES. */
export async function blockResize(dom: LiveDomain, path: string, size: number, flags: number): Promise<void> {
  virCheckFlags(flags, BLOCK_RESIZE_BYTES, 'qemuDomainBlockResize');
  let bytes = BigInt(size);
  if (!(flags & BLOCK_RESIZE_BYTES)) {
    const max = (1n << 64n) / 1024n;
    if (bytes > max) throw virReportError('OVERFLOW', 'qemu', `size must be less than ${max - 1n}`);
    bytes *= 1024n;
  }
  if (!dom.active || !dom.live) throw operationInvalid('domain is not running');
  const disk = findDisk(dom.live, path);
  if (!disk) throw invalidArg(`disk '${path}' was not found in the domain config`);
  const fmt = (disk.driver as { type?: string } | undefined)?.type;
  // qcow2 and qed are sized in 512-byte sectors
  if (fmt === 'qcow2' || fmt === 'qed') bytes = ((bytes + 511n) / 512n) * 512n;
  const src = disk.source as { file?: string; dev?: string; name?: string; volume?: string } | undefined;
  const empty = !src || (!src.file && !src.dev && !src.name && !src.volume);
  if (empty || disk.readonly)
    throw virReportError(
      'OPERATION_UNSUPPORTED',
      'qemu',
      `can't resize empty or readonly disk '${disk.target?.dev ?? path}'`,
    );
  const entry = await blockEntry(dom, disk);
  const node = entry?.inserted?.['node-name'];
  const mon = await dom.monitor();
  await mon.execute('block_resize', {
    ...(node ? { 'node-name': node } : { device: entry?.device ?? `drive-${disk.alias?.name}` }),
    size: Number(bytes),
  });
}

/** The 20 parameters in libvirt's order, with QEMU's names (qemuMonitorJSONSetBlockIoThrottle). */
const FIELDS = [
  ['total_bytes_sec', 'bps', 'BYTES'],
  ['read_bytes_sec', 'bps_rd', 'BYTES'],
  ['write_bytes_sec', 'bps_wr', 'BYTES'],
  ['total_iops_sec', 'iops', 'IOPS'],
  ['read_iops_sec', 'iops_rd', 'IOPS'],
  ['write_iops_sec', 'iops_wr', 'IOPS'],
  ['total_bytes_sec_max', 'bps_max', 'BYTES_MAX'],
  ['read_bytes_sec_max', 'bps_rd_max', 'BYTES_MAX'],
  ['write_bytes_sec_max', 'bps_wr_max', 'BYTES_MAX'],
  ['total_iops_sec_max', 'iops_max', 'IOPS_MAX'],
  ['read_iops_sec_max', 'iops_rd_max', 'IOPS_MAX'],
  ['write_iops_sec_max', 'iops_wr_max', 'IOPS_MAX'],
  ['size_iops_sec', 'iops_size', 'SIZE_IOPS'],
  ['group_name', 'group', 'GROUP_NAME'],
  ['total_bytes_sec_max_length', 'bps_max_length', 'BYTES_MAX_LENGTH'],
  ['read_bytes_sec_max_length', 'bps_rd_max_length', 'BYTES_MAX_LENGTH'],
  ['write_bytes_sec_max_length', 'bps_wr_max_length', 'BYTES_MAX_LENGTH'],
  ['total_iops_sec_max_length', 'iops_max_length', 'IOPS_MAX_LENGTH'],
  ['read_iops_sec_max_length', 'iops_rd_max_length', 'IOPS_MAX_LENGTH'],
  ['write_iops_sec_max_length', 'iops_wr_max_length', 'IOPS_MAX_LENGTH'],
] as const;
type Field = (typeof FIELDS)[number][0];

/** virDomainBlockIoTuneInfo: the numbers, and the group's name when there is one. */
type IoTune = { [field: string]: number | string | undefined; group_name?: string };

const iotuneOf = (disk: Disk): IoTune => ({ ...((disk as { iotune?: IoTune }).iotune ?? {}) });

/** qemuDomainGetBlockIoTune: QEMU's figures for a running disk, the config's otherwise. */
export async function getBlockIoTune(
  dom: LiveDomain,
  path: string | null,
  nparams: number,
  flags: number,
): Promise<TypedParamsReply> {
  virCheckFlags(flags, A.LIVE | A.CONFIG | VIR_TYPED_PARAM_STRING_OKAY, 'qemuDomainGetBlockIoTune');
  const defs = affectedDefs(dom, flags & ~VIR_TYPED_PARAM_STRING_OKAY);
  // the remote driver asks for the count with a NULL disk
  if (nparams === 0) return { params: [], nparams: FIELDS.length };
  let values: IoTune;
  if (defs.live) {
    const disk = path === null ? undefined : findDisk(defs.live, path);
    if (!disk) throw invalidArg(`disk '${path}' not found in domain`);
    const entry = await blockEntry(dom, disk);
    if (!entry?.inserted) throw invalidArg(`No device found for specified path`);
    values = {};
    for (const [field, qmp] of FIELDS) {
      const v = entry.inserted[qmp];
      if (field === 'group_name') {
        if (typeof v === 'string') values.group_name = v;
      } else values[field] = Number(v ?? 0);
    }
  } else {
    const disk = path === null ? undefined : findDisk(defs.config!, path);
    if (!disk) throw invalidArg(`disk '${path}' was not found in the domain config`);
    values = iotuneOf(disk);
  }
  const params: TypedParam[] = FIELDS.slice(0, nparams).map(([field]) =>
    field === 'group_name'
      ? { field, type: VIR_TYPED_PARAM.STRING, value: values.group_name ?? '' }
      : { field, type: VIR_TYPED_PARAM.ULLONG, value: Number(values[field] ?? 0) },
  );
  return { params, nparams: params.length };
}

/** QEMU_BLOCK_IOTUNE_MAX */
const IOTUNE_MAX = 1_000_000_000_000_000;

/** qemuDomainSetBlockIoTuneDefaults: what the call leaves unset comes from the current values. */
function withDefaults(info: IoTune, cur: IoTune, set: Set<string>): IoTune {
  const out: IoTune = { ...info };
  for (const [field, , family] of FIELDS) {
    if (family.endsWith('MAX_LENGTH')) continue;
    if (!set.has(family)) {
      if (field === 'group_name') {
        if (cur.group_name !== undefined) out.group_name = cur.group_name;
      } else out[field] = cur[field] ?? 0;
    }
  }
  // the lengths: an unset family keeps its values; one being cleared while its family still
  // limits gets QEMU's default of 1
  for (const [field, , family] of FIELDS) {
    if (!family.endsWith('MAX_LENGTH')) continue;
    const key: string = field;
    const base = key.replace(/_max_length$/, '');
    if (!set.has(family)) out[key] = cur[key] ?? 0;
    else if (cur[key] && !out[key]) out[key] = out[base] || out[`${base}_max`] ? 1 : 0;
  }
  return out;
}

const hasAny = (t: IoTune) => FIELDS.some(([f]) => f !== 'group_name' && Number(t[f] ?? 0) !== 0);

/** qemuDomainCheckBlockIoTuneReset: all zero removes throttling (and the group). */
function checkReset(disk: Disk, info: IoTune): void {
  if (hasAny(info)) return;
  if (info.group_name !== undefined && info.group_name !== iotuneOf(disk).group_name)
    throw virReportError(
      'CONFIG_UNSUPPORTED',
      'qemu',
      'creating a new group/updating existing with all tune parameters zero is not supported',
    );
  delete info.group_name;
}

/** The iotune of a disk's group (qemuDomainFindGroupBlockIoTune). */
function groupTune(def: DomainDef, disk: Disk, info: IoTune): IoTune {
  const own = iotuneOf(disk);
  if (info.group_name === undefined || own.group_name === info.group_name) return own;
  const other = (def.devices?.disk ?? []).find((d) => iotuneOf(d).group_name === info.group_name);
  return other ? iotuneOf(other) : own;
}

/** virDomainDiskSetBlockIOTune, then the group's other disks (qemuDomainSetGroupBlockIoTune). */
function storeTune(def: DomainDef, disk: Disk, info: IoTune): void {
  // (the schema keeps unsigned longs as decimal strings)
  const clean = Object.fromEntries(
    Object.entries(info)
      .filter(([k, v]) => (k === 'group_name' ? v !== undefined : Number(v) !== 0))
      .map(([k, v]) => [k, String(v)]),
  );
  const targets = [disk];
  if (info.group_name !== undefined)
    for (const d of def.devices?.disk ?? [])
      if (d !== disk && iotuneOf(d).group_name === info.group_name) targets.push(d);
  for (const d of targets) {
    if (Object.keys(clean).length) (d as { iotune?: unknown }).iotune = { ...clean };
    else delete (d as { iotune?: unknown }).iotune;
  }
}

/** CHECK_MAX: a burst needs its base value and may not be below it. */
function checkMax(info: IoTune, set: Set<string>): void {
  for (const [base, family] of [
    ['total_bytes_sec', 'BYTES'],
    ['read_bytes_sec', 'BYTES'],
    ['write_bytes_sec', 'BYTES'],
    ['total_iops_sec', 'IOPS'],
    ['read_iops_sec', 'IOPS'],
    ['write_iops_sec', 'IOPS'],
  ] as const) {
    const max = Number(info[`${base}_max` as Field] ?? 0);
    const val = Number(info[base] ?? 0);
    if (!max) continue;
    if (!val) {
      throw virReportError(
        'CONFIG_UNSUPPORTED',
        'qemu',
        set.has(family)
          ? `cannot reset '${base}' when '${base}_max' is set`
          : `value '${base}_max' cannot be set if '${base}' is not set`,
      );
    }
    if (max < val)
      throw virReportError(
        'CONFIG_UNSUPPORTED',
        'qemu',
        `value '${base}_max' cannot be smaller than '${base}'`,
      );
  }
}

/** qemuDomainSetBlockIoTune. */
export async function setBlockIoTune(
  dom: LiveDomain,
  path: string,
  params: TypedParam[],
  flags: number,
): Promise<void> {
  virCheckFlags(flags, A.LIVE | A.CONFIG, 'qemuDomainSetBlockIoTune');
  validateTypedParams(
    params,
    Object.fromEntries(
      FIELDS.map(([f]) => [f, f === 'group_name' ? VIR_TYPED_PARAM.STRING : VIR_TYPED_PARAM.ULLONG]),
    ),
  );
  const defs = affectedDefs(dom, flags);
  const info: IoTune = {};
  const set = new Set<string>();
  const event: TypedParam[] = [{ field: 'blkdeviotune.disk', type: VIR_TYPED_PARAM.STRING, value: path }];
  for (const p of params) {
    const [field, , family] = FIELDS.find(([f]) => f === p.field)!;
    if (field !== 'group_name' && Number(p.value) > IOTUNE_MAX)
      throw virReportError(
        'ARGUMENT_UNSUPPORTED',
        'qemu',
        `block I/O throttle limit value must be no more than ${IOTUNE_MAX}`,
      );
    if (field === 'group_name') info.group_name = String(p.value);
    else info[field] = Number(p.value);
    set.add(family);
    event.push({ field: `blkdeviotune.${field}`, type: p.type, value: p.value });
  }
  for (const what of ['bytes_sec', 'iops_sec', 'bytes_sec_max', 'iops_sec_max']) {
    const t = Number(info[`total_${what}` as Field] ?? 0);
    if (t && (Number(info[`read_${what}` as Field] ?? 0) || Number(info[`write_${what}` as Field] ?? 0)))
      throw invalidArg(`total and read/write of ${what} cannot be set at the same time`);
  }
  if (defs.live) {
    const live = copyDef(defs.live);
    const disk = findDisk(live, path);
    if (!disk) throw invalidArg(`disk '${path}' not found in domain`);
    const next = withDefaults(info, groupTune(live, disk, info), set);
    checkReset(disk, next);
    checkMax(next, set);
    const src = disk.source as { file?: string; dev?: string; name?: string; volume?: string } | undefined;
    if (src && (src.file || src.dev || src.name || src.volume)) {
      const entry = await blockEntry(dom, disk);
      const qmp: Record<string, unknown> = {};
      for (const [field, name, family] of FIELDS) {
        if (field === 'group_name') {
          if (next.group_name !== undefined) qmp.group = next.group_name;
        } else if (!family.endsWith('MAX_LENGTH') || next[field]) qmp[name] = Number(next[field] ?? 0);
      }
      const qom = diskEntryName(disk);
      await (await dom.monitor()).execute('block_set_io_throttle', {
        ...(entry?.qdev ? { id: entry.qdev } : qom ? { id: qom } : { device: `drive-${disk.alias?.name}` }),
        ...qmp,
      });
    }
    storeTune(live, disk, next);
    await dom.saveLive(live);
    if (event.length > 1) dom.emit({ eventID: VIR_DOMAIN_EVENT_ID.TUNABLE, params: event });
  }
  if (defs.config) {
    const config = copyDef(defs.config);
    const disk = findDisk(config, path);
    if (!disk) throw invalidArg(`missing persistent configuration for disk '${path}'`);
    const next = withDefaults(info, groupTune(config, disk, info), set);
    checkReset(disk, next);
    storeTune(config, disk, next);
    await dom.saveConfig(config);
  }
}
