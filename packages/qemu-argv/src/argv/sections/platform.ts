import { virReportError } from '@qvirt/core';
import { isQ35 } from '../../domain-util.js';
import { add, type Build } from '../build.js';
import { pciAddressProps } from '../device-address.js';
import { jsonProps, optsValue } from '../props.js';
import { internalError, toKiB, unsupported } from './head-util.js';

export function uuid(b: Build): void {
  if (b.def.uuid) add(b, '-uuid', b.def.uuid);
}

/** `-display none` when the domain has no graphics, then QEMU's own defaults switched off. */
export function display(b: Build): void {
  if (!b.def.devices?.graphics?.length) add(b, '-display', 'none');
  add(b, '-no-user-config', '-nodefaults');
}

/** The QMP monitor: a socket in the private dir (domxml-to-native prints its path). */
export function monitor(b: Build): void {
  add(
    b,
    '-chardev',
    `socket,id=charmonitor,path=${optsValue(`${b.libDir}/monitor.sock`)},server=on,wait=off`,
  );
  add(b, '-mon', 'chardev=charmonitor,id=monitor,mode=control');
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** `%Y-%m-%dT%H:%M:%S` of a UTC instant. */
function isoSeconds(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** The `-rtc` value (qemuBuildClockArgStr). */
function rtcArgument(b: Build): string {
  const clock = b.def.clock ?? {};
  let text: string;
  switch (clock.offset ?? 'utc') {
    case 'utc':
      text = 'base=utc';
      break;
    case 'localtime':
    case 'timezone':
      text = 'base=localtime';
      break;
    case 'variable': {
      let adjustment = Number(clock.adjustment ?? 0);
      if (!Number.isFinite(adjustment)) adjustment = 0;
      if (clock.basis === 'localtime') adjustment -= new Date().getTimezoneOffset() * 60;
      text = `base=${isoSeconds(Date.now() + adjustment * 1000)}`;
      break;
    }
    case 'absolute':
      text = `base=${isoSeconds((clock.start ?? 0) * 1000)}`;
      break;
    default:
      throw unsupported(`unsupported clock offset '${clock.offset}'`);
  }
  const rtc = (clock.timer ?? []).find((t) => t.name === 'rtc');
  if (rtc) {
    switch (rtc.track) {
      case 'boot':
        throw unsupported("timer rtc track 'boot' is not supported");
      case 'guest':
        text += ',clock=vm';
        break;
      case 'wall':
        text += ',clock=host';
        break;
      case 'realtime':
        text += ',clock=rt';
        break;
      default:
        break;
    }
    if (rtc.tickpolicy === 'catchup') text += ',driftfix=slew';
    else if (rtc.tickpolicy === 'merge' || rtc.tickpolicy === 'discard') {
      throw unsupported(`unsupported rtc timer tickpolicy '${rtc.tickpolicy}'`);
    }
  }
  return text;
}

/** `-rtc`, TZ for a timezone clock, the PIT tick policy and `-no-hpet`. */
export function clock(b: Build): void {
  const clock = b.def.clock ?? {};
  add(b, '-rtc', rtcArgument(b));
  if (clock.offset === 'timezone' && clock.timezone) b.env.push(['TZ', clock.timezone]);
  const flags = b.ctx.caps.flags;
  for (const t of clock.timer ?? []) {
    switch (t.name) {
      case 'platform':
        throw unsupported("unsupported timer type (name) 'platform'");
      case 'pit':
        if (t.tickpolicy === undefined || t.tickpolicy === 'delay') {
          if (flags.has('kvm-pit-lost-tick-policy')) add(b, '-global', 'kvm-pit.lost_tick_policy=delay');
        } else if (t.tickpolicy === 'discard') {
          if (flags.has('kvm-pit-lost-tick-policy')) add(b, '-global', 'kvm-pit.lost_tick_policy=discard');
        } else if (t.tickpolicy === 'merge') {
          throw unsupported("unsupported pit tickpolicy 'merge'");
        }
        break;
      case 'hpet':
        if (flags.has('no-hpet') && t.present === 'no') add(b, '-no-hpet');
        break;
      default:
        break;
    }
  }
}

/** `-no-shutdown`, `-no-acpi` when ACPI is off, and the S3/S4 switches of the PM device. */
export function pm(b: Build): void {
  const def = b.def;
  const flags = b.ctx.caps.flags;
  add(b, '-no-shutdown');
  if (flags.has('no-acpi') && !def.features?.acpi) add(b, '-no-acpi');
  const s3 = def.pm?.['suspend-to-mem']?.enabled;
  if (s3) {
    const obj = isQ35(def) && flags.has('ich9-disable-s3') ? 'ICH9-LPC' : 'PIIX4_PM';
    add(b, '-global', `${obj}.disable_s3=${s3 === 'no' ? 1 : 0}`);
  }
  const s4 = def.pm?.['suspend-to-disk']?.enabled;
  if (s4) {
    const obj = isQ35(def) && flags.has('ich9-disable-s4') ? 'ICH9-LPC' : 'PIIX4_PM';
    add(b, '-global', `${obj}.disable_s4=${s4 === 'no' ? 1 : 0}`);
  }
}

/** `-boot menu=…,reboot-timeout=…,splash-time=…,strict=on`, kernel, initrd, append, dtb, SLIC. */
export function boot(b: Build): void {
  const os = b.def.os ?? {};
  let text = '';
  if (os.bootmenu?.enable) text += `menu=${os.bootmenu.enable === 'yes' ? 'on' : 'off'},`;
  if (os.bios?.rebootTimeout !== undefined) text += `reboot-timeout=${os.bios.rebootTimeout},`;
  if (os.bootmenu?.timeout !== undefined) text += `splash-time=${os.bootmenu.timeout},`;
  text += 'strict=on';
  add(b, '-boot', text);
  if (os.kernel) add(b, '-kernel', os.kernel);
  if (os.initrd) add(b, '-initrd', os.initrd);
  if (os.cmdline) add(b, '-append', os.cmdline);
  if (os.dtb) add(b, '-dtb', os.dtb);
  const slic = os.acpi?.table?.find((t) => t.type === 'slic');
  if (slic) add(b, '-acpitable', `sig=SLIC,file=${optsValue(slic.value ?? '')}`);
}

type SysinfoGroup = { entry?: Array<{ name?: string; value?: string }> } | undefined;

function entries(group: SysinfoGroup): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of group?.entry ?? []) if (e.name && e.value !== undefined) out.set(e.name, e.value);
  return out;
}

function smbiosString(
  type: number,
  values: Map<string, string>,
  keys: string[],
  always: string[] = [],
): string {
  let text = `type=${type}`;
  for (const k of keys) {
    const v = values.get(k);
    if (v !== undefined || always.includes(k)) text += `,${k}=${optsValue(v ?? '')}`;
  }
  return text;
}

/** `-smbios type=0/1/2/3/11` from `<sysinfo type='smbios'>` with `<smbios mode='sysinfo'/>`. */
export function smbios(b: Build): void {
  const def = b.def;
  const mode = def.os?.smbios?.mode;
  if (!mode || mode === 'emulate') return;
  if (mode === 'host') throw unsupported('Host SMBIOS information is not available');
  const source = (def.sysinfo ?? []).find((s) => (s.type ?? 'smbios') === 'smbios');
  if (!source) {
    throw virReportError('XML_ERROR', 'qemu', `Domain '${def.name}' sysinfo are not available`);
  }
  if (source.bios) {
    add(b, '-smbios', smbiosString(0, entries(source.bios), ['vendor', 'version', 'date', 'release']));
  }
  if (source.system) {
    const sys = entries(source.system);
    // libvirt skips type 1 only when it has nothing but a SKU (sic: its test reads `sku &&`).
    const skip =
      !sys.has('manufacturer') &&
      !sys.has('product') &&
      !sys.has('version') &&
      !sys.has('serial') &&
      !sys.has('uuid') &&
      sys.has('sku') &&
      !sys.has('family');
    if (!skip) {
      add(
        b,
        '-smbios',
        smbiosString(1, sys, ['manufacturer', 'product', 'version', 'serial', 'uuid', 'sku', 'family']),
      );
    }
  }
  const boards = source.baseBoard ?? [];
  if (boards.length > 1)
    throw unsupported('qemu does not support more than one entry to Type 2 in SMBIOS table');
  for (const board of boards) {
    add(
      b,
      '-smbios',
      smbiosString(
        2,
        entries(board),
        ['manufacturer', 'product', 'version', 'serial', 'asset', 'location'],
        ['manufacturer'],
      ),
    );
  }
  if (source.chassis) {
    add(
      b,
      '-smbios',
      smbiosString(
        3,
        entries(source.chassis),
        ['manufacturer', 'version', 'serial', 'asset', 'sku'],
        ['manufacturer'],
      ),
    );
  }
  if (source.oemStrings) {
    let text = 'type=11';
    for (const e of source.oemStrings.entry ?? []) text += `,value=${optsValue(e.value ?? '')}`;
    add(b, '-smbios', text);
  }
}

/** XML escaping as libvirt's virBufferEscapeString applies it to `-fw_cfg` values. */
function xmlEscape(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** `-fw_cfg name=…,string=…|file=…` from `<sysinfo type='fwcfg'>`. */
export function sysinfo(b: Build): void {
  for (const s of b.def.sysinfo ?? []) {
    if (s.type !== 'fwcfg') continue;
    for (const e of s.entry ?? []) {
      let text = `name=${e.name ?? ''}`;
      if (e.value !== undefined) text += `,string=${xmlEscape(e.value)}`;
      else text += `,file=${xmlEscape(e.file ?? '')}`;
      add(b, '-fw_cfg', text);
    }
  }
}

/** The VM generation ID device. */
export function vmgenid(b: Build): void {
  const genid = b.def.genid;
  if (genid === undefined) return;
  add(b, '-device', jsonProps({ driver: 'vmgenid', guid: genid, id: 'vmgenid0' }));
}

/** `-device intel-iommu` / `virtio-iommu` (SMMUv3 is a machine property). */
export function iommu(b: Build): void {
  const iommu = b.def.devices?.iommu;
  if (!iommu) return;
  const id = iommu.alias?.name ?? 'iommu0';
  const drv = iommu.driver;
  if (iommu.model === 'intel') {
    add(
      b,
      '-device',
      jsonProps({
        driver: 'intel-iommu',
        id,
        intremap: drv?.intremap,
        'caching-mode': drv?.caching_mode === undefined ? undefined : drv.caching_mode === 'on',
        eim: drv?.eim,
        'device-iotlb': drv?.iotlb === undefined ? undefined : drv.iotlb === 'on',
        'aw-bits': drv?.aw_bits ? drv.aw_bits : undefined,
      }),
    );
  } else if (iommu.model === 'virtio') {
    add(b, '-device', jsonProps({ driver: 'virtio-iommu', id, ...pciAddressProps(b.def, iommu.address) }));
  } else if (iommu.model !== 'smmuv3') {
    throw unsupported(`IOMMU model '${iommu.model}' is not supported`);
  }
}

/** `-global …pci-hole64-size=NK` for root PCI controllers with `<pcihole64>`. */
export function globalControllers(b: Build): void {
  for (const c of b.def.devices?.controller ?? []) {
    if (c.type !== 'pci' || !c.pcihole64) continue;
    const size = toKiB(c.pcihole64);
    if (size === 0n) continue;
    let host: string;
    if (c.model === 'pci-root') host = 'i440FX-pcihost';
    else if (c.model === 'pcie-root') host = 'q35-pcihost';
    else throw internalError('64-bit PCI hole setting is only for root PCI controllers');
    add(b, '-global', `${host}.pci-hole64-size=${size}K`);
  }
}
