/**
 * The `logical` backend (libvirt's storage_backend_logical.c) through the lvm2 tools: a pool is a
 * volume group (vgcreate over its source devices at build, vgchange -aly/-aln at start/stop,
 * vgremove and pvremove at delete), its volumes are logical volumes (lvcreate/lvremove, listed by
 * lvs), block devices under /dev/VG. libvirt 9.0 cannot resize logical volumes; neither can this.
 */
import { open } from 'node:fs/promises';
import { virReportError } from '@qvirt/core';
import { VIR_STORAGE_POOL_BUILD } from '@qvirt/core/hypervisor';
import type { PoolDef } from '../pool-xml.js';
import { escapeXml, run, runOrThrow } from '../util.js';
import type { VolDef } from '../vol-xml.js';
import { wipePath } from '../wipe.js';
import type { Backend } from './backend.js';
import { checkDeviceEmpty } from './probe.js';

/** `pvs`: each physical volume with its volume group. */
async function pvs(): Promise<Array<{ pv: string; vg: string }>> {
  await run('vgscan', []);
  const out = await runOrThrow('pvs', ['--noheadings', '-o', 'pv_name,vg_name']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 2 && f[0] && f[1])
    .map(([pv, vg]) => ({ pv: pv!, vg: vg! }));
}

/** virStorageBackendLogicalMatchPoolSource. */
async function matchSource(def: PoolDef): Promise<void> {
  const list = await pvs();
  const mine = list.filter((p) => p.vg === def.source.name);
  if (mine.length === 0) {
    throw virReportError(
      'CONFIG_UNSUPPORTED',
      'storage',
      `cannot find logical volume group name '${def.source.name}'`,
    );
  }
  if (def.source.devices.length === 0) return;
  if (!def.source.devices.some((d) => mine.some((p) => p.pv === d.path))) {
    throw virReportError(
      'CONFIG_UNSUPPORTED',
      'storage',
      `cannot find any matching source devices for logical volume group '${def.source.name}'`,
    );
  }
}

/** virStorageBackendLogicalInitializeDevice: zero the first sectors, then pvcreate. */
async function initializeDevice(device: string): Promise<void> {
  const fh = await open(device, 'r+');
  try {
    await fh.write(Buffer.alloc(2048), 0, 2048, 0);
  } finally {
    await fh.close();
  }
  await runOrThrow('pvcreate', [device]);
}

const n = (s: string | undefined) => Number(s ?? 0);

export const logicalBackend: Backend = {
  async build(def, flags) {
    if (flags & VIR_STORAGE_POOL_BUILD.OVERWRITE && flags & VIR_STORAGE_POOL_BUILD.NO_OVERWRITE) {
      throw virReportError(
        'INVALID_ARG',
        'storage',
        "Flags 'VIR_STORAGE_POOL_BUILD_OVERWRITE' and 'VIR_STORAGE_POOL_BUILD_NO_OVERWRITE' are mutually exclusive",
      );
    }
    const done: string[] = [];
    try {
      for (const d of def.source.devices) {
        if (!(flags & VIR_STORAGE_POOL_BUILD.OVERWRITE))
          await checkDeviceEmpty(d.path, 'LVM2_member', 'LVM2_member');
        await initializeDevice(d.path);
        done.push(d.path);
      }
      await runOrThrow('vgcreate', [def.source.name!, ...def.source.devices.map((d) => d.path)]);
    } catch (err) {
      for (const p of done) await run('pvremove', [p]);
      throw err;
    }
  },
  async checkActive(def) {
    const r = await run('vgs', ['--noheadings', '-o', 'vg_name', def.source.name!]);
    if (r.code !== 0) return false;
    // a volume group is active when its LVs are (vgchange -aly); an empty one counts as active
    const lvs = await run('lvs', ['--noheadings', '-o', 'lv_active', def.source.name!]);
    return lvs.stdout.trim() === '' || /active/.test(lvs.stdout);
  },
  async start(def) {
    await matchSource(def);
    await runOrThrow('vgchange', ['-aly', def.source.name!]);
  },
  async refresh(def) {
    await run('udevadm', ['settle']);
    const vg = def.source.name!;
    const lvsOut = await runOrThrow('lvs', [
      '--separator',
      '#',
      '--noheadings',
      '--units',
      'b',
      '--unbuffered',
      '--nosuffix',
      '--options',
      'lv_name,origin,uuid,devices,segtype,stripes,seg_size,vg_extent_size,size,lv_attr',
      vg,
    ]);
    const vols = new Map<string, VolDef>();
    for (const line of lvsOut.split('\n')) {
      const f = line.trim().split('#');
      if (f.length < 10) continue;
      const [name, , uuid, devices, , , segSize, , size, attr] = f;
      // thin pools and the like are not volumes (virStorageBackendLogicalMakeVol)
      if (attr?.[0] === 't' || !name) continue;
      let vol = vols.get(name);
      if (!vol) {
        vol = {
          name,
          key: uuid,
          type: 'block',
          capacity: n(size),
          allocation: 0,
          hasAllocation: true,
          hasCapacity: true,
          target: { path: `${def.target.path}/${name}`, perms: {} },
          extents: [],
        };
        vols.set(name, vol);
      }
      vol.allocation += n(segSize);
      const m = /^(.+)\((\d+)\)$/.exec((devices ?? '').trim());
      if (m) vol.extents!.push({ path: m[1]!, start: 0, end: n(segSize) });
    }
    for (const vol of vols.values()) {
      try {
        const { stat } = await import('node:fs/promises');
        const st = await stat(vol.target.path!);
        vol.target.perms = { mode: st.mode & 0o777, uid: st.uid, gid: st.gid };
      } catch {
        // an inactive LV has no device node
      }
      vol.extents = [];
    }
    const vgsOut = await runOrThrow('vgs', [
      '--separator',
      ':',
      '--noheadings',
      '--units',
      'b',
      '--unbuffered',
      '--nosuffix',
      '--options',
      'vg_size,vg_free',
      vg,
    ]);
    const [vgSize, vgFree] = vgsOut.trim().split(':');
    return {
      capacity: n(vgSize),
      available: n(vgFree),
      allocation: n(vgSize) - n(vgFree),
      vols: [...vols.values()].sort((a, b) => a.name.localeCompare(b.name)),
    };
  },
  async stop(def) {
    await runOrThrow('vgchange', ['-aln', def.source.name!]);
  },
  async delete(def) {
    await runOrThrow('vgremove', ['-f', def.source.name!]);
    for (const d of def.source.devices) await run('pvremove', [d.path]);
  },
  async prepareVol(def, vol) {
    vol.type = 'block';
    if (vol.name.includes('/')) {
      throw virReportError('OPERATION_INVALID', 'storage', `volume name '${vol.name}' cannot contain '/'`);
    }
    vol.target.path = `${def.target.path}/${vol.name}`;
  },
  async createVol(def, vol) {
    if (vol.target.encryption) {
      throw virReportError(
        'CONFIG_UNSUPPORTED',
        'storage',
        'storage pool only supports LUKS encrypted volumes',
      );
    }
    const args = ['--name', vol.name, '-L'];
    if (vol.capacity !== vol.allocation) {
      args.push(`${Math.ceil((vol.allocation || 1) / 1024)}K`, '--type', 'snapshot', '--virtualsize');
    }
    args.push(`${Math.ceil(vol.capacity / 1024)}K`);
    if (vol.backingStore) args.push('-s', vol.backingStore.path);
    else args.push(def.source.name!);
    args.push('--yes');
    await runOrThrow('lvcreate', args);
    const uuid = await runOrThrow('lvs', ['--noheadings', '-o', 'uuid', `${def.source.name}/${vol.name}`]);
    vol.key = uuid.trim();
  },
  async createVolFrom(def, vol, input, flags) {
    await logicalBackend.createVol(def, vol, flags);
    // virStorageBackendVolBuildFromLocal: the source's bytes into the new LV
    await runOrThrow('qemu-img', [
      'convert',
      '-n',
      '-f',
      input.target.format ?? 'raw',
      '-O',
      'raw',
      input.target.path!,
      vol.target.path!,
    ]);
  },
  async deleteVol(_def, vol) {
    await run('lvchange', ['-aln', vol.target.path!]);
    await runOrThrow('lvremove', ['-f', vol.target.path!]);
  },
  async wipeVol(_def, vol, algorithm) {
    await wipePath(vol.target.path!, vol.capacity, algorithm);
  },
  async findSources() {
    // virStorageBackendLogicalFindPoolSources: each volume group and its devices
    const list = await pvs();
    const groups = new Map<string, string[]>();
    for (const p of list) groups.set(p.vg, [...(groups.get(p.vg) ?? []), p.pv]);
    let xml = '<sources>\n';
    for (const [vg, devs] of groups) {
      xml += '  <source>\n';
      for (const d of devs) xml += `    <device path='${escapeXml(d)}'/>\n`;
      xml += `    <name>${escapeXml(vg)}</name>\n    <format type='lvm2'/>\n  </source>\n`;
    }
    return `${xml}</sources>\n`;
  },
};
