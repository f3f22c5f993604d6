/**
 * Save, restore and managed save, one suite two ways (in process and through a real qvirtd): a
 * guest that counts on its serial port is saved to libvirt's image format, restored, and goes on
 * counting from where it was; managed save and `start` (and `--force-boot`) the same way.
 */
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type HypervisorDriver,
  VIR_CONNECT_LIST_DOMAINS as L,
  VIR_DOMAIN_JOB,
  VIR_DOMAIN_JOB_STATS,
  VIR_DOMAIN_SAVE,
  VIR_DOMAIN_START,
  VIR_DOMAIN_STATE,
  VIR_DOMAIN_UNDEFINE,
} from '@qvirt/core/hypervisor';
import { countsIn, serialGuestBootSector } from '@qvirt/driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bothWays, type Way } from '../test-support/ways.js';

function counterXml(dir: string, name: string): { xml: string; log: string } {
  const disk = path.join(dir, `${name}.img`);
  // a line every 2 BIOS ticks (~0.1 s)
  writeFileSync(disk, serialGuestBootSector(2));
  const log = path.join(dir, `${name}-serial.log`);
  return {
    log,
    xml: `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
    <serial type='file'><source path='${log}'/><target port='0'/></serial>
  </devices>
</domain>
`,
  };
}

const read = (f: string) => {
  try {
    return readFileSync(f, 'latin1');
  } catch {
    return '';
  }
};

/** Waits until the serial log holds a count satisfying `pred`; answers the counts. */
async function countsUntil(log: string, pred: (counts: number[]) => boolean, ms = 30_000): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const counts = countsIn(read(log));
    if (pred(counts)) return counts;
    if (Date.now() > deadline) throw new Error(`counts ${JSON.stringify(counts.slice(-5))} never matched`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each(bothWays('qvirt-save-'))('save and restore %s', (_label, open) => {
  let way: Way;
  let c: HypervisorDriver;
  beforeAll(async () => {
    way = await open();
    c = way.conn;
  });
  afterAll(() => way?.close());

  it('saves a counting guest to an image and restores it counting on', async () => {
    const { xml, log } = counterXml(way.dir, 'counter');
    const dom = await c.domainCreateXML(xml, 0);
    await countsUntil(log, (n) => n.length >= 3);
    const file = path.join(way.dir, 'counter.save');
    await c.domainSave(dom, file);
    // a transient domain is gone once saved
    await expect(c.domainLookupByName('counter')).rejects.toThrow(
      "Domain not found: no domain with matching name 'counter'",
    );
    const before = countsIn(read(log));
    const last = before[before.length - 1]!;
    // the image: never readable by others, libvirt's magic, the definition inside
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file).subarray(0, 16).toString('latin1')).toBe('LibvirtQemudSave');
    const saved = await c.domainSaveImageGetXMLDesc(file, 0);
    expect(saved).toMatch(/^<domain type='qemu'>\n {2}<name>counter<\/name>/);
    expect(saved).not.toContain('<alias');
    await c.domainRestore(file);
    const restored = await c.domainLookupByName('counter');
    expect(await c.domainGetState(restored, 0)).toEqual({ state: VIR_DOMAIN_STATE.running, reason: 3 });
    // the guest goes on from where it was, not from 0 as a fresh boot would
    const after = await countsUntil(log, (n) => n.some((x) => x > last));
    expect(after.filter((x) => x < last - 1)).toEqual([]);
    await c.domainDestroy(restored);
  });

  it("reports a save job's statistics while it runs and once completed, and aborts one", async () => {
    const { xml, log } = counterXml(way.dir, 'jobs');
    const dom = await c.domainDefineXML(xml);
    await c.domainCreate(dom);
    await countsUntil(log, (n) => n.length >= 2);
    // no job: qemuDomainGetJobStats' empty answer, qemuDomainAbortJobFlags' refusal
    expect(await c.domainGetJobStats(dom, 0)).toEqual({ type: VIR_DOMAIN_JOB.NONE, params: [] });
    expect((await c.domainGetJobInfo(dom)).type).toBe(VIR_DOMAIN_JOB.NONE);
    await expect(c.domainAbortJob(dom)).rejects.toThrow(
      'Requested operation is not valid: no job is active on the domain',
    );
    await expect(c.domainGetJobStats(dom, 4)).rejects.toThrow(
      'unsupported flags (0x4) in function qemuDomainGetJobStats',
    );
    // QEMU holds the stream before its end (pause-before-switchover), so the save runs until
    // aborted. (libvirtd would reset QEMU's migration capabilities before a save,
    // qemuMigrationParamsApply; qvirt does not yet, and this test uses that to hold a save.)
    const capability = (state: boolean) =>
      c.domainQemuMonitorCommand(
        dom,
        JSON.stringify({
          execute: 'migrate-set-capabilities',
          arguments: { capabilities: [{ capability: 'pause-before-switchover', state }] },
        }),
        0,
      );
    await capability(true);
    const file = path.join(way.dir, 'jobs.save');
    const outcome = c.domainSave(dom, file).then(
      () => undefined,
      (e: Error) => e,
    );
    const field = (p: { field: string; value: unknown }[], f: string) =>
      p.find((x) => x.field === f)?.value as number | undefined;
    const deadline = Date.now() + 30_000;
    let running = await c.domainGetJobStats(dom, 0);
    while (!(running.type === VIR_DOMAIN_JOB.UNBOUNDED && (field(running.params, 'memory_total') ?? 0) > 0)) {
      if (Date.now() > deadline) throw new Error(`the save never ran: ${JSON.stringify(running)}`);
      await new Promise((r) => setTimeout(r, 20));
      running = await c.domainGetJobStats(dom, 0);
    }
    expect(running.params.slice(0, 2).map((p) => p.field)).toEqual(['operation', 'time_elapsed']);
    expect(field(running.params, 'operation')).toBe(2); // VIR_DOMAIN_JOB_OPERATION_SAVE
    expect(running.params.map((p) => p.field)).not.toContain('disk_total');
    const info = await c.domainGetJobInfo(dom);
    expect(info.type).toBe(VIR_DOMAIN_JOB.UNBOUNDED);
    expect(info.memTotal).toBe(field(running.params, 'memory_total'));
    expect(info.dataTotal).toBe(info.memTotal);
    await c.domainAbortJob(dom);
    const err = await outcome;
    expect(err?.message).toBe("operation aborted: job 'domain save' canceled by client");
    // the guest goes on, without an image; an aborted job leaves no statistics
    // VIR_DOMAIN_RUNNING_SAVE_CANCELED
    expect(await c.domainGetState(dom, 0)).toEqual({ state: VIR_DOMAIN_STATE.running, reason: 7 });
    expect(existsSync(file)).toBe(false);
    expect(await c.domainGetJobStats(dom, VIR_DOMAIN_JOB_STATS.COMPLETED)).toEqual({
      type: VIR_DOMAIN_JOB.NONE,
      params: [],
    });
    // a save that completes: its statistics stay until read (unless kept)
    await capability(false);
    await c.domainManagedSave(dom, 0);
    const J = VIR_DOMAIN_JOB_STATS;
    const kept = await c.domainGetJobStats(dom, J.COMPLETED | J.KEEP_COMPLETED);
    expect(kept.type).toBe(VIR_DOMAIN_JOB.COMPLETED);
    expect(kept.params.map((p) => p.field)).toEqual(
      expect.arrayContaining(['operation', 'time_elapsed', 'downtime', 'memory_total', 'memory_processed']),
    );
    expect(field(kept.params, 'memory_remaining')).toBe(0);
    expect(field(kept.params, 'memory_processed')).toBeGreaterThan(0);
    expect(await c.domainGetJobStats(dom, J.COMPLETED)).toEqual(kept);
    expect(await c.domainGetJobStats(dom, J.COMPLETED)).toEqual({ type: VIR_DOMAIN_JOB.NONE, params: [] });
    // the current job's statistics need a running domain
    await expect(c.domainGetJobStats(dom, 0)).rejects.toThrow(
      'Requested operation is not valid: domain is not running',
    );
    await c.domainManagedSaveRemove(dom, 0);
    await c.domainUndefine(dom);
  });

  it('refuses what libvirt refuses', async () => {
    const { xml } = counterXml(way.dir, 'refused');
    const dom = await c.domainDefineXML(xml);
    await expect(c.domainSave(dom, path.join(way.dir, 'x.save'))).rejects.toThrow(
      'Requested operation is not valid: domain is not running',
    );
    await expect(
      c.domainSaveFlags(
        dom,
        path.join(way.dir, 'x.save'),
        null,
        VIR_DOMAIN_SAVE.RUNNING | VIR_DOMAIN_SAVE.PAUSED,
      ),
    ).rejects.toThrow("Flags 'VIR_DOMAIN_SAVE_RUNNING' and 'VIR_DOMAIN_SAVE_PAUSED' are mutually exclusive");
    writeFileSync(path.join(way.dir, 'junk.save'), Buffer.alloc(200));
    await expect(c.domainRestore(path.join(way.dir, 'junk.save'))).rejects.toThrow(
      'operation failed: image magic is incorrect',
    );
    await expect(c.domainManagedSaveGetXMLDesc(dom, 0)).rejects.toThrow(
      'Requested operation is not valid: domain does not have managed save image',
    );
    await c.domainUndefine(dom);
  });

  it('saves paused with --paused and a changed definition with --xml, restores paused', async () => {
    const { xml, log } = counterXml(way.dir, 'alter');
    const dom = await c.domainCreateXML(xml, 0);
    await countsUntil(log, (n) => n.length >= 2);
    const file = path.join(way.dir, 'alter.save');
    const changed = (await c.domainGetXMLDesc(dom, 2)).replace(
      '</devices>',
      '</devices>\n  <description>changed</description>',
    );
    await c.domainSaveFlags(dom, file, changed, VIR_DOMAIN_SAVE.PAUSED);
    expect(await c.domainSaveImageGetXMLDesc(file, 0)).toContain('<description>changed</description>');
    // the image's definition can be changed again, for the same guest only
    const again = changed.replace('<description>changed</description>', '<description>again</description>');
    await c.domainSaveImageDefineXML(file, again, 0);
    expect(await c.domainSaveImageGetXMLDesc(file, 0)).toContain('<description>again</description>');
    await c.domainRestore(file);
    const restored = await c.domainLookupByName('alter');
    expect((await c.domainGetState(restored, 0)).state).toBe(VIR_DOMAIN_STATE.paused);
    expect(await c.domainGetXMLDesc(restored, 0)).toContain('<description>again</description>');
    await c.domainDestroy(restored);
  });

  it('managed save: start resumes from it, --force-boot boots afresh', async () => {
    const { xml, log } = counterXml(way.dir, 'managed');
    const dom = await c.domainDefineXML(xml);
    await c.domainCreate(dom);
    await countsUntil(log, (n) => n.length >= 3);
    await c.domainManagedSave(dom, 0);
    const last = Math.max(...countsIn(read(log)));
    expect(await c.domainHasManagedSaveImage(dom, 0)).toBe(1);
    expect((await c.domainGetState(dom, 0)).state).toBe(VIR_DOMAIN_STATE.shutoff);
    expect((await c.connectListAllDomains(L.MANAGEDSAVE)).map((d) => d.name)).toEqual(['managed']);
    expect((await c.connectListAllDomains(L.NO_MANAGEDSAVE | L.INACTIVE)).map((d) => d.name)).not.toContain(
      'managed',
    );
    expect(await c.domainManagedSaveGetXMLDesc(dom, 0)).toContain('<name>managed</name>');
    await c.domainCreate(dom);
    expect(await c.domainHasManagedSaveImage(dom, 0)).toBe(0);
    await countsUntil(log, (n) => n.some((x) => x > last));
    expect(countsIn(read(log)).filter((x) => x < last - 1)).toEqual([]);
    // again, and this time a fresh boot: the counter starts over and the image goes
    await c.domainManagedSave(dom, 0);
    await c.domainCreateWithFlags(dom, VIR_DOMAIN_START.FORCE_BOOT);
    expect(await c.domainHasManagedSaveImage(dom, 0)).toBe(0);
    await countsUntil(log, (n) => n.includes(0));
    await c.domainDestroy(dom);
    // managedsave-remove
    await c.domainCreate(dom);
    await c.domainManagedSave(dom, 0);
    await c.domainManagedSaveRemove(dom, 0);
    expect(await c.domainHasManagedSaveImage(dom, 0)).toBe(0);
    // undefine refuses a domain with an image, unless told to remove it
    await c.domainCreate(dom);
    await c.domainManagedSave(dom, 0);
    await expect(c.domainUndefine(dom)).rejects.toThrow(
      'Requested operation is not valid: Refusing to undefine while domain managed save image exists',
    );
    await c.domainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE.MANAGED_SAVE);
    expect(existsSync(path.join(way.root, 'lib/qemu/save/managed.save'))).toBe(false);
  });
});

describe.each(bothWays('qvirt-save-'))('undefine flags %s', (_label, open) => {
  let way: Way;
  let c: HypervisorDriver;
  beforeAll(async () => {
    way = await open();
    c = way.conn;
  });
  afterAll(async () => {
    await way?.close();
    rmSync(way.dir, { recursive: true, force: true });
  });

  const efi = () => {
    const nvram = path.join(way.dir, 'uefi_VARS.fd');
    writeFileSync(nvram, Buffer.alloc(4096));
    return {
      nvram,
      xml: `<domain type='qemu'>
  <name>uefi</name>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
    <nvram>${nvram}</nvram></os>
  <features><acpi/></features>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>`,
    };
  };

  it('refuses a domain with a variable store unless told what to do with it', async () => {
    const { xml, nvram } = efi();
    const dom = await c.domainDefineXML(xml);
    await expect(c.domainUndefine(dom)).rejects.toThrow(
      'Requested operation is not valid: cannot undefine domain with nvram',
    );
    await expect(
      c.domainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE.NVRAM | VIR_DOMAIN_UNDEFINE.KEEP_NVRAM),
    ).rejects.toThrow('Requested operation is not valid: cannot both keep and delete nvram');
    expect(existsSync(nvram)).toBe(true);
    expect(await c.domainIsPersistent(dom)).toBe(1);
  });

  it('keeps the store with --keep-nvram', async () => {
    const dom = await c.domainLookupByName('uefi');
    await c.domainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE.KEEP_NVRAM);
    await expect(c.domainLookupByName('uefi')).rejects.toThrow('Domain not found');
    expect(existsSync(path.join(way.dir, 'uefi_VARS.fd'))).toBe(true);
  });

  it('removes the store with --nvram', async () => {
    const { xml, nvram } = efi();
    const dom = await c.domainDefineXML(xml);
    await c.domainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE.NVRAM);
    expect(existsSync(nvram)).toBe(false);
    await expect(c.domainLookupByName('uefi')).rejects.toThrow('Domain not found');
  });

  it('accepts --snapshots-metadata (no snapshots to remove)', async () => {
    const { xml } = counterXml(way.dir, 'snapmeta');
    const dom = await c.domainDefineXML(xml);
    await c.domainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE.SNAPSHOTS_METADATA);
    await expect(c.domainLookupByName('snapmeta')).rejects.toThrow('Domain not found');
  });
});
