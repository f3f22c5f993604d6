/**
 * Block jobs on a running (paused) TCG guest, in process and through qvirtd: qcow2 chains made
 * by qemu-img with a known pattern written by qemu-io into each layer; an inner commit, an
 * active commit pivoted with virDomainBlockJobAbort, a pull, a copy pivoted and one cancelled,
 * each checked where the data landed (qemu-io reads of the images QEMU keeps open, with -U),
 * in the live XML's `<backingStore>`/`<mirror>`, and by the BLOCK_JOB and BLOCK_JOB_2 events.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  VIR_DOMAIN_BLOCK_COMMIT as C,
  type Domain,
  type DomainEvent,
  type HypervisorDriver,
  VIR_DOMAIN_BLOCK_JOB as S,
  VIR_DOMAIN_BLOCK_JOB_TYPE as T,
  VIR_DOMAIN_BLOCK_COPY,
  VIR_DOMAIN_BLOCK_JOB_ABORT,
  VIR_DOMAIN_BLOCK_REBASE,
  VIR_DOMAIN_EVENT_ID,
  VIR_DOMAIN_START,
  VIR_TYPED_PARAM,
} from '@qvirt/core/hypervisor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bothWays, type Way } from '../test-support/ways.js';

const img = (...args: string[]) => execFileSync('qemu-img', args).toString();
/** A qemu-io command on an image (-U: QEMU may hold it open). */
const io = (file: string, cmd: string) =>
  execFileSync('qemu-io', ['-U', '-r', '-f', 'qcow2', '-c', cmd, file]).toString();
const holds = (file: string, pattern: number, offset: string) => {
  try {
    return !/Pattern verification failed/.test(io(file, `read -P ${pattern} ${offset} 64k`));
  } catch {
    // qemu-io exits 1 when the pattern does not verify
    return false;
  }
};

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.each(bothWays('qvirt-blockjob-'))('block jobs %s', (_label, open) => {
  let way: Way;
  let c: HypervisorDriver;
  let dom: Domain;
  const events: DomainEvent[] = [];
  const f = (name: string) => path.join(way.dir, name);
  const xml = () => c.domainGetXMLDesc(dom, 0);
  /** The `<disk>` of `dev` in the live XML. */
  const diskXml = async (dev: string) =>
    (await xml())
      .split('<disk ')
      .find((d) => d.includes(`<target dev='${dev}'`))!
      .split('</disk>')[0]!;
  const eventFor = (id: number, disk: string, status: number) =>
    until(`event ${id} ${disk} ${status}`, () =>
      events.find((e) => e.eventID === id && e.disk === disk && e.status === status),
    );

  beforeAll(async () => {
    way = await open();
    c = way.conn;
    // vda: base <- mid <- top, a 0xaa block in base, 0xbb in mid, 0xcc in top
    img('create', '-q', '-f', 'qcow2', f('base.qcow2'), '4M');
    img('create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', f('base.qcow2'), f('mid.qcow2'));
    img('create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', f('mid.qcow2'), f('top.qcow2'));
    // vdb: pbase <- ptop, with a relative backing name
    img('create', '-q', '-f', 'qcow2', f('pbase.qcow2'), '4M');
    img('create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', 'pbase.qcow2', f('ptop.qcow2'));
    // vdc: cbase <- cmid <- ctop, all relative
    img('create', '-q', '-f', 'qcow2', f('cbase.qcow2'), '4M');
    img('create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', 'cbase.qcow2', f('cmid.qcow2'));
    img('create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', 'cmid.qcow2', f('ctop.qcow2'));
    for (const [file, p, off] of [
      ['base.qcow2', '0xaa', '0'],
      ['mid.qcow2', '0xbb', '64k'],
      ['top.qcow2', '0xcc', '128k'],
      ['pbase.qcow2', '0xdd', '0'],
      ['cmid.qcow2', '0xee', '0'],
    ] as const)
      execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P ${p} ${off} 64k`, f(file)]);
    dom = await c.domainDefineXML(`<domain type='qemu'>
  <name>bj</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${f('top.qcow2')}'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${f('ptop.qcow2')}'/><target dev='vdb' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${f('ctop.qcow2')}'/><target dev='vdc' bus='virtio'/></disk>
  </devices>
</domain>`);
    for (const id of [VIR_DOMAIN_EVENT_ID.BLOCK_JOB, VIR_DOMAIN_EVENT_ID.BLOCK_JOB_2])
      await c.connectDomainEventRegisterAny(dom, id, (e) => events.push(e));
    // the block layer works the same with the vCPUs stopped; nothing boots
    await c.domainCreateWithFlags(dom, VIR_DOMAIN_START.PAUSED);
  });
  afterAll(async () => {
    await way?.close();
  });

  it('answers no job, and refuses as libvirt does', async () => {
    expect(await c.domainGetBlockJobInfo(dom, 'vda', 0)).toEqual({
      found: 0,
      type: 0,
      bandwidth: 0,
      cur: 0,
      end: 0,
    });
    await expect(c.domainGetBlockJobInfo(dom, 'vdz', 0)).rejects.toThrow(
      "invalid argument: disk 'vdz' not found in domain",
    );
    await expect(c.domainBlockJobAbort(dom, 'vda', 0)).rejects.toThrow(
      'invalid argument: disk vda does not have an active block job',
    );
    await expect(c.domainBlockJobSetSpeed(dom, 'vda', 1, 0)).rejects.toThrow(
      'invalid argument: disk vda does not have an active block job',
    );
    await expect(c.domainBlockCommit(dom, 'vda', null, null, 0, 0)).rejects.toThrow(
      "invalid argument: commit of 'vda' active layer requires active flag",
    );
    await expect(c.domainBlockCommit(dom, 'vda', null, f('mid.qcow2'), 0, C.ACTIVE)).rejects.toThrow(
      `invalid argument: active commit requested but '${f('mid.qcow2')}' is not active`,
    );
    await expect(c.domainBlockCommit(dom, 'vda', f('nope.qcow2'), null, 0, C.ACTIVE)).rejects.toThrow(
      `invalid argument: could not find image '${f('nope.qcow2')}' beneath '${f('top.qcow2')}' in chain for 'vda'`,
    );
    await expect(
      c.domainBlockCopy(dom, 'vda', `<disk type='file'><source file='${f('x.qcow2')}'/></disk>`, [], 0),
    ).rejects.toThrow('Requested operation is not valid: domain is not transient');
  });

  it('commits mid into base: the chain loses mid (deleted), base holds its data, COMPLETED is sent', async () => {
    await c.domainBlockCommit(dom, 'vda', f('base.qcow2'), f('mid.qcow2'), 0, C.DELETE);
    await eventFor(VIR_DOMAIN_EVENT_ID.BLOCK_JOB_2, 'vda', S.COMPLETED);
    const ev = await eventFor(VIR_DOMAIN_EVENT_ID.BLOCK_JOB, f('top.qcow2'), S.COMPLETED);
    expect(ev.blockJobType).toBe(T.COMMIT);
    const disk = await diskXml('vda');
    expect(disk).toContain(`<source file='${f('top.qcow2')}'`);
    expect(disk).toContain(`<backingStore type='file'>`);
    expect(disk).toContain(`<source file='${f('base.qcow2')}'/>`);
    expect(disk).not.toContain('mid.qcow2');
    // VIR_DOMAIN_BLOCK_COMMIT_DELETE: the committed image is gone
    expect(existsSync(f('mid.qcow2'))).toBe(false);
    expect((await c.domainGetBlockJobInfo(dom, 'vda', 0)).found).toBe(0);
  });

  it('active commit: READY with <mirror>, info and speed, then the pivot onto base', async () => {
    await c.domainBlockCommit(dom, 'vda', null, null, 0, C.ACTIVE);
    await eventFor(VIR_DOMAIN_EVENT_ID.BLOCK_JOB_2, 'vda', S.READY);
    expect(
      events.find((e) => e.eventID === VIR_DOMAIN_EVENT_ID.BLOCK_JOB_2 && e.status === S.READY)?.blockJobType,
    ).toBe(T.ACTIVE_COMMIT);
    expect(await diskXml('vda')).toMatch(
      new RegExp(
        `<mirror type='file' job='active-commit' ready='yes'>\\s*<format type='qcow2'/>\\s*<source file='${f('base.qcow2')}'/>`,
      ),
    );
    const info = await c.domainGetBlockJobInfo(dom, 'vda', 0);
    expect(info).toMatchObject({ found: 1, type: T.ACTIVE_COMMIT, bandwidth: 0 });
    expect(info.cur).toBe(info.end);
    await expect(c.domainBlockCommit(dom, 'vda', null, null, 0, C.ACTIVE)).rejects.toThrow(
      "block copy still active: disk 'vda' already in active block job",
    );
    await c.domainBlockJobSetSpeed(dom, 'vda', 3, 0);
    expect((await c.domainGetBlockJobInfo(dom, 'vda', 0)).bandwidth).toBe(3);
    expect((await c.domainGetBlockJobInfo(dom, 'vda', 1)).bandwidth).toBe(3 * 1024 * 1024);
    await c.domainBlockJobAbort(dom, 'vda', VIR_DOMAIN_BLOCK_JOB_ABORT.PIVOT);
    // synchronous: the pivot is done (and told) when the call returns
    expect(
      events.some(
        (e) =>
          e.eventID === VIR_DOMAIN_EVENT_ID.BLOCK_JOB_2 &&
          e.status === S.COMPLETED &&
          e.blockJobType === T.ACTIVE_COMMIT,
      ),
    ).toBe(true);
    // BLOCK_JOB names the disk's source after the pivot
    await eventFor(VIR_DOMAIN_EVENT_ID.BLOCK_JOB, f('base.qcow2'), S.COMPLETED);
    const disk = await diskXml('vda');
    expect(disk).toContain(`<source file='${f('base.qcow2')}'`);
    expect(disk).not.toContain('<mirror');
    expect(disk).not.toContain('top.qcow2');
  });

  it('pulls the backing image into vdb: the chain ends at the top', async () => {
    await c.domainBlockPull(dom, 'vdb', 0, 0);
    const ev = await eventFor(VIR_DOMAIN_EVENT_ID.BLOCK_JOB_2, 'vdb', S.COMPLETED);
    expect(ev.blockJobType).toBe(T.PULL);
    const disk = await diskXml('vdb');
    expect(disk).toContain('<backingStore/>');
    expect(disk).not.toContain('pbase.qcow2');
    // the top stands alone now (QEMU rewrote its header)
    expect(img('info', '-U', f('ptop.qcow2'))).not.toContain('backing file');
  });

  it('rebases vdc onto its base keeping the relative name (a partial pull)', async () => {
    await expect(c.domainBlockRebase(dom, 'vdc', f('ctop.qcow2'), 0, 0)).rejects.toThrow(
      `invalid argument: could not find image '${f('ctop.qcow2')}' beneath '${f('ctop.qcow2')}' in chain for 'vdc'`,
    );
    await expect(c.domainBlockRebase(dom, 'vdc', null, 0, VIR_DOMAIN_BLOCK_REBASE.RELATIVE)).rejects.toThrow(
      'invalid argument: flag VIR_DOMAIN_BLOCK_REBASE_RELATIVE is valid only with non-null base',
    );
    await c.domainBlockRebase(dom, 'vdc', f('cbase.qcow2'), 0, VIR_DOMAIN_BLOCK_REBASE.RELATIVE);
    const ev = await eventFor(VIR_DOMAIN_EVENT_ID.BLOCK_JOB_2, 'vdc', S.COMPLETED);
    expect(ev.blockJobType).toBe(T.PULL);
    const disk = await diskXml('vdc');
    expect(disk).not.toContain('cmid.qcow2');
    expect(disk).toMatch(
      new RegExp(
        `<backingStore type='file'>\\s*<format type='qcow2'/>\\s*<source file='${f('cbase.qcow2')}'/>\\s*<backingStore/>`,
      ),
    );
    // the top now names its new backing image as the chain did, relatively
    expect(img('info', '-U', f('ctop.qcow2'))).toMatch(/^backing file: cbase\.qcow2 /m);
  });

  it('copies vdb with typed parameters and pivots onto the copy', async () => {
    const dest = f('copy.qcow2');
    await expect(
      c.domainBlockCopy(
        dom,
        'vdb',
        `<disk type='file'><source file='${dest}'/></disk>`,
        [{ field: 'granularity', type: VIR_TYPED_PARAM.UINT, value: 3000 }],
        VIR_DOMAIN_BLOCK_COPY.TRANSIENT_JOB,
      ),
    ).rejects.toThrow('invalid argument: granularity must be power of 2');
    await c.domainBlockCopy(
      dom,
      'vdb',
      `<disk type='file'><source file='${dest}'/><driver type='qcow2'/></disk>`,
      [
        { field: 'bandwidth', type: VIR_TYPED_PARAM.ULLONG, value: 64 * 1024 * 1024 },
        { field: 'granularity', type: VIR_TYPED_PARAM.UINT, value: 65536 },
        { field: 'buf-size', type: VIR_TYPED_PARAM.ULLONG, value: 1024 * 1024 },
      ],
      VIR_DOMAIN_BLOCK_COPY.TRANSIENT_JOB,
    );
    await eventFor(VIR_DOMAIN_EVENT_ID.BLOCK_JOB_2, 'vdb', S.READY);
    expect(await diskXml('vdb')).toContain(
      `<mirror type='file' file='${dest}' format='qcow2' job='copy' ready='yes'>`,
    );
    expect((await c.domainGetBlockJobInfo(dom, 'vdb', 0)).type).toBe(T.COPY);
    await c.domainBlockJobAbort(dom, 'vdb', VIR_DOMAIN_BLOCK_JOB_ABORT.PIVOT);
    const disk = await diskXml('vdb');
    expect(disk).toContain(`<source file='${dest}'`);
    expect(disk).not.toContain('<mirror');
  });

  it('cancels a copy into an existing image: CANCELED is sent, the disk keeps its source, ASYNC returns at once', async () => {
    // REUSE_EXT: a raw image made beforehand, its format probed
    const dest = f('copy2.raw');
    // vda was READY before (the active commit): only this job's events count
    events.length = 0;
    img('create', '-q', '-f', 'raw', dest, '4M');
    await c.domainBlockCopy(
      dom,
      'vda',
      `<disk type='file'><source file='${dest}'/></disk>`,
      [],
      VIR_DOMAIN_BLOCK_COPY.TRANSIENT_JOB | VIR_DOMAIN_BLOCK_COPY.REUSE_EXT,
    );
    await eventFor(VIR_DOMAIN_EVENT_ID.BLOCK_JOB_2, 'vda', S.READY);
    expect(await diskXml('vda')).toContain(
      `<mirror type='file' file='${dest}' format='raw' job='copy' ready='yes'>`,
    );
    await expect(c.domainBlockJobAbort(dom, 'vda', 4)).rejects.toThrow(
      'unsupported flags (0x4) in function qemuDomainBlockJobAbort',
    );
    await c.domainBlockJobAbort(dom, 'vda', VIR_DOMAIN_BLOCK_JOB_ABORT.ASYNC);
    const ev = await eventFor(VIR_DOMAIN_EVENT_ID.BLOCK_JOB_2, 'vda', S.CANCELED);
    expect(ev.blockJobType).toBe(T.COPY);
    await until('the job gone', async () =>
      (await c.domainGetBlockJobInfo(dom, 'vda', 0)).found === 0 ? true : undefined,
    );
    const disk = await diskXml('vda');
    expect(disk).toContain(`<source file='${f('base.qcow2')}'`);
    expect(disk).not.toContain('<mirror');
    expect(existsSync(dest)).toBe(true);
  });

  it('the data arrived where the jobs put it (read once QEMU has flushed and closed the images)', async () => {
    await c.domainDestroy(dom);
    // inner commit and active commit: everything is in base now
    expect(holds(f('base.qcow2'), 0xaa, '0')).toBe(true);
    expect(holds(f('base.qcow2'), 0xbb, '64k')).toBe(true);
    expect(holds(f('base.qcow2'), 0xcc, '128k')).toBe(true);
    // pull: ptop holds its former backing image's data; the copy is the same disk
    expect(holds(f('ptop.qcow2'), 0xdd, '0')).toBe(true);
    // partial pull: ctop holds cmid's data
    expect(holds(f('ctop.qcow2'), 0xee, '0')).toBe(true);
    expect(img('compare', '-q', f('ptop.qcow2'), f('copy.qcow2'))).toBe('');
  });
});
