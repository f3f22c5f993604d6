/**
 * snapshot-create-as, snapshot-list, snapshot-current, snapshot-revert, snapshot-delete side by
 * side: libvirt's own virsh and qvirsh against one qvirtd print the same. Then external snapshots
 * (disk-only of a running guest, with memory, offline), the tree and children commands,
 * snapshot-info/parent/edit, a redefine round trip, and libvirt 9.0's refusals.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { serialGuestBootSector } from '@qvirt/driver';
import { describe, expect, it } from 'vitest';
import { cliTestDaemonPerFile, hasVirsh, writeCounterGuest } from '../test-support/test-daemon.js';

const { t, virsh, qvirsh } = cliTestDaemonPerFile('qvirt-cli-snap-');

describe.each([
  ['virsh', virsh],
  ['qvirsh', qvirsh],
])('snapshots with %s through qvirtd', (tool, run) => {
  it.runIf(tool === 'qvirsh' || hasVirsh)('create, list, current, revert, delete', async () => {
    const name = `sn-${tool}`;
    const file = writeCounterGuest(t.dir, name, { format: 'qcow2' });
    expect((await run('define', file)).code).toBe(0);
    expect((await run('start', name)).code).toBe(0);
    expect(await run('snapshot-create-as', name, 's1', '--description', 'first')).toEqual({
      code: 0,
      out: 'Domain snapshot s1 created\n',
      err: '',
    });
    const list = await run('snapshot-list', name);
    expect(list.out).toMatch(
      /^ Name {3}Creation Time {15}State\n-{45}\n s1 {5}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} {3}running\n\n$/,
    );
    expect((await run('snapshot-current', name, '--name')).out).toBe('s1\n');
    expect((await run('snapshot-dumpxml', name, 's1')).out).toMatch(
      /^<domainsnapshot>\n {2}<name>s1<\/name>/,
    );
    expect(await run('snapshot-revert', name, 's1')).toEqual({
      code: 0,
      out: 'Domain snapshot s1 reverted\n\n',
      err: '',
    });
    expect(await run('snapshot-delete', name, 's1')).toEqual({
      code: 0,
      out: 'Domain snapshot s1 deleted\n\n',
      err: '',
    });
    expect((await run('destroy', name)).code).toBe(0);
    expect((await run('undefine', name)).code).toBe(0);
  });
});

/** A running boot-sector guest on a fresh qcow2 disk, defined under `name`. */
async function runningGuest(
  run: (...a: string[]) => Promise<{ code: number }>,
  name: string,
): Promise<string> {
  const raw = path.join(t.dir, `${name}.raw`);
  writeFileSync(raw, serialGuestBootSector(2));
  const disk = path.join(t.dir, `${name}.qcow2`);
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, disk]);
  execFileSync('qemu-img', ['resize', '-q', '-f', 'qcow2', disk, '16M']);
  const file = path.join(t.dir, `${name}.xml`);
  writeFileSync(
    file,
    `<domain type='qemu'><name>${name}</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
</devices></domain>`,
  );
  expect((await run('define', file)).code).toBe(0);
  expect((await run('start', name)).code).toBe(0);
  return disk;
}

const backingOf = (file: string) =>
  (
    JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', file]).toString()) as {
      'full-backing-filename'?: string;
    }
  )['full-backing-filename'];

describe.each([
  ['virsh', virsh],
  ['qvirsh', qvirsh],
])('external snapshots with %s through qvirtd', (tool, run) => {
  it.runIf(tool === 'qvirsh' || hasVirsh)(
    'disk-only, with memory, the tree, info, redefine, delete',
    async () => {
      const name = `ext-${tool}`;
      const base = await runningGuest(run, name);
      const stem = base.replace(/\.qcow2$/, '');
      // disk-only of the running guest: the overlay gets libvirt's default name and the disk moves to it
      expect(await run('snapshot-create-as', name, 'e1', '--disk-only', '--atomic')).toEqual({
        code: 0,
        out: 'Domain snapshot e1 created\n',
        err: '',
      });
      expect(backingOf(`${stem}.e1`)).toBe(base);
      const live = (await run('dumpxml', name)).out;
      expect(live).toContain(`<source file='${stem}.e1'`);
      expect(live).toMatch(
        new RegExp(`<backingStore type='file'[^>]*>\\s*<format type='qcow2'/>\\s*<source file='${base}'/>`),
      );
      // with memory: a save image holding the definition, and a second overlay named by --diskspec
      const mem = path.join(t.dir, `${name}.mem`);
      const e2 = path.join(t.dir, `${name}-e2.qcow2`);
      expect(
        await run(
          'snapshot-create-as',
          name,
          'e2',
          'second',
          '--memspec',
          `file=${mem},snapshot=external`,
          '--diskspec',
          `hda,file=${e2}`,
        ),
      ).toEqual({ code: 0, out: 'Domain snapshot e2 created\n', err: '' });
      expect(readFileSync(mem).subarray(0, 16).toString()).toBe('LibvirtQemudSave');
      expect((await run('save-image-dumpxml', mem)).out).toContain(`<name>${name}</name>`);
      expect(backingOf(e2)).toBe(`${stem}.e1`);
      expect((await run('domstate', name)).out).toBe('running\n\n');
      // the tree and the children
      expect((await run('snapshot-list', name, '--tree')).out).toBe('e1\n  |\n  +- e2\n    \n\n');
      expect((await run('snapshot-list', name, '--from', 'e1', '--name')).out).toBe('e2\n\n');
      expect((await run('snapshot-list', name, '--external', '--name')).out).toBe('e1\ne2\n\n');
      expect((await run('snapshot-list', name, '--internal', '--name')).out).toBe('\n');
      expect((await run('snapshot-list', name, '--disk-only', '--name')).out).toBe('e1\n\n');
      expect((await run('snapshot-list', name, '--leaves', '--name')).out).toBe('e2\n\n');
      expect((await run('snapshot-parent', name, 'e2')).out).toBe('e1\n');
      expect(await run('snapshot-parent', name, 'e1')).toMatchObject({
        code: 1,
        err: "error: snapshot 'e1' has no parent\n",
      });
      expect((await run('snapshot-info', name, 'e1')).out).toBe(
        `Name:           e1\nDomain:         ${name}\nCurrent:        no\nState:          disk-snapshot\nLocation:       external\nParent:         -\nChildren:       1\nDescendants:    1\nMetadata:       yes\n\n`,
      );
      // libvirt 9.0's refusals for external snapshots and flags
      expect(await run('snapshot-revert', name, 'e1')).toMatchObject({
        code: 1,
        err: 'error: Failed to revert snapshot e1\nerror: unsupported configuration: revert to external snapshot not supported yet\n',
      });
      expect(await run('snapshot-delete', name, 'e1', '--children')).toMatchObject({
        code: 1,
        err: 'error: Failed to delete snapshot e1\nerror: unsupported configuration: deletion of external children disk snapshots not supported\n',
      });
      expect((await run('snapshot-create-as', name, 'x', '--live')).err).toBe(
        'error: Operation not supported: live snapshot creation is supported only during full system snapshots\n',
      );
      expect((await run('snapshot-create-as', name, 'x', '--quiesce')).err).toBe(
        "error: Flag 'VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY' is required by flag 'VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE'\n",
      );
      expect((await run('snapshot-create-as', name, 'x', '--disk-only', '--memspec', mem)).err).toBe(
        'error: XML error: memory state cannot be saved with offline or disk-only snapshot\n',
      );
      expect((await run('snapshot-create-as', name, 'a/b')).err).toBe(
        "error: invalid snapshot name 'a/b': name can't contain '/'\n",
      );
      expect(
        (await run('snapshot-create-as', name, 'x', '--disk-only', '--diskspec', `hda,file=${mem}`)).err,
      ).toBe(
        `error: unsupported configuration: external snapshot file for disk hda already exists and is not a block device: ${mem}\n`,
      );
      // redefine round trip: the same XML back after the metadata went
      const xml = (await run('snapshot-dumpxml', name, 'e2', '--security-info')).out.replace(/\n$/, '');
      const saved = path.join(t.dir, `${name}-e2.xml`);
      writeFileSync(saved, xml);
      expect((await run('snapshot-delete', name, 'e2', '--metadata')).out).toBe(
        'Domain snapshot e2 deleted\n\n',
      );
      expect(existsSync(e2)).toBe(true);
      expect(await run('snapshot-create', name, '--xmlfile', saved, '--redefine', '--current')).toEqual({
        code: 0,
        out: `Domain snapshot e2 created from '${saved}'\n`,
        err: '',
      });
      expect((await run('snapshot-dumpxml', name, 'e2', '--security-info')).out).toBe(`${xml}\n`);
      expect((await run('snapshot-current', name, '--name')).out).toBe('e2\n');
      // snapshot-edit through $VISUAL (a sed script), as virsh runs the user's editor
      const editor = path.join(t.dir, 'edit.sh');
      writeFileSync(
        editor,
        '#!/bin/sh\nsed -i \'s|<description>second</description>|<description>edited</description>|\' "$1"\n',
        {
          mode: 0o755,
        },
      );
      const visual = process.env.VISUAL;
      process.env.VISUAL = editor;
      try {
        expect(await run('snapshot-edit', name, 'e2')).toEqual({
          code: 0,
          out: 'Snapshot e2 edited.\n\n',
          err: '',
        });
        expect(await run('snapshot-edit', name, 'e2')).toEqual({
          code: 0,
          out: 'Snapshot e2 XML configuration not changed.\n\n',
          err: '',
        });
        // a new name needs --rename or --clone: the copy made under it goes again
        writeFileSync(editor, '#!/bin/sh\nsed -i \'s|<name>e2</name>|<name>e2x</name>|\' "$1"\n', {
          mode: 0o755,
        });
        expect(await run('snapshot-edit', name, 'e2')).toMatchObject({
          code: 1,
          err: 'error: Must use --rename or --clone to change e2 to e2x\nerror: Failed to update e2\n',
        });
      } finally {
        if (visual === undefined) delete process.env.VISUAL;
        else process.env.VISUAL = visual;
      }
      expect((await run('snapshot-dumpxml', name, 'e2')).out).toContain('<description>edited</description>');
      // deleting the top external snapshot commits its overlay into the image below (9.0)
      expect(await run('snapshot-delete', name, 'e2')).toEqual({
        code: 0,
        out: 'Domain snapshot e2 deleted\n\n',
        err: '',
      });
      expect(existsSync(e2)).toBe(false);
      expect((await run('dumpxml', name)).out).toContain(`<source file='${stem}.e1'`);
      expect((await run('snapshot-current', name, '--name')).out).toBe('e1\n');
      expect((await run('destroy', name)).code).toBe(0);
      // offline: qemu-img makes the overlay, the definition points at it
      expect((await run('snapshot-create-as', name, 'e3', '--disk-only')).out).toBe(
        'Domain snapshot e3 created\n',
      );
      expect(backingOf(`${stem}.e3`)).toBe(`${stem}.e1`);
      expect((await run('dumpxml', name, '--inactive')).out).toContain(`<source file='${stem}.e3'/>`);
      expect((await run('snapshot-delete', name, 'e3')).code).toBe(0);
      expect(existsSync(`${stem}.e3`)).toBe(false);
      expect((await run('dumpxml', name, '--inactive')).out).toContain(`<source file='${stem}.e1'/>`);
      expect((await run('undefine', name, '--snapshots-metadata')).code).toBe(0);
    },
  );

  it.runIf(tool === 'qvirsh' || hasVirsh)(
    '--no-metadata, --redefine, --validate and the refusals of a create',
    async () => {
      const name = `ref-${tool}`;
      await runningGuest(run, name);
      const err = async (...argv: string[]) => {
        const r = await run(...argv);
        expect(r.code).toBe(1);
        return r.err;
      };
      expect((await run('snapshot-create-as', name, 'nm', '--no-metadata')).out).toBe(
        'Domain snapshot nm created\n',
      );
      expect((await run('snapshot-list', name, '--name')).out).toBe('\n');
      const redef = path.join(t.dir, `${name}-redef.xml`);
      writeFileSync(
        redef,
        '<domainsnapshot><name>zz</name><state>shutoff</state><creationTime>1</creationTime><parent><name>nope</name></parent></domainsnapshot>',
      );
      expect(await err('snapshot-create', name, redef, '--redefine')).toBe(
        'error: invalid argument: parent nope for moment zz not found\n',
      );
      writeFileSync(
        redef,
        '<domainsnapshot><name>zz</name><state>shutoff</state><creationTime>1</creationTime></domainsnapshot>',
      );
      expect(await err('snapshot-create', name, redef, '--redefine')).toBe(
        'error: internal error: missing domain in snapshot\n',
      );
      expect(
        await err('snapshot-create-as', name, 'n2', '--disk-only', '--diskspec', 'hda,snapshot=internal'),
      ).toBe(
        'error: unsupported configuration: active qemu domains require external disk snapshots; disk hda requested internal\n',
      );
      expect(await err('snapshot-create-as', name, 'n3', '--diskspec', 'hda,snapshot=no')).toBe(
        "error: unsupported configuration: disk 'hda' must use snapshot mode 'internal'\n",
      );
      expect(await err('snapshot-create-as', name, 'n4', '--memspec', 'snapshot=no')).toBe(
        'error: Operation not supported: internal snapshot of a running VM must include the memory state\n',
      );
      writeFileSync(redef, '<domainsnapshot><bogus/></domainsnapshot>');
      // libvirt's message has the validator's detail on a second line (qvirsh prints errors on one)
      const invalid = await err('snapshot-create', name, redef, '--validate');
      expect(invalid).toMatch(
        /^error: XML document failed to validate against schema: Unable to validate doc against \/usr\/share\/libvirt\/schemas\/domainsnapshot\.rng\n/,
      );
      if (tool === 'virsh') expect(invalid).toContain('\nElement domainsnapshot has extra content: bogus\n');
      expect(await err('snapshot-list', name, '--descendants')).toBe(
        'error: --descendants requires either --from or --current\n',
      );
      expect(await err('snapshot-info', name)).toBe('error: --snapshotname or --current is required\n');
      expect((await run('snapshot-create-as', name, 'i1')).out).toBe('Domain snapshot i1 created\n');
      // --reuse-external: the overlay the user made is taken as it is; a missing one is refused
      const missing = path.join(t.dir, `${name}-none.qcow2`);
      expect(
        await err(
          'snapshot-create-as',
          name,
          'r0',
          '--disk-only',
          '--reuse-external',
          '--diskspec',
          `hda,file=${missing}`,
        ),
      ).toBe(`error: missing existing file for disk hda: ${missing}: No such file or directory\n`);
      const mine = path.join(t.dir, `${name}-mine.qcow2`);
      const disk = path.join(t.dir, `${name}.qcow2`);
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', disk, '-F', 'qcow2', mine]);
      expect(
        (
          await run(
            'snapshot-create-as',
            name,
            'r1',
            '--disk-only',
            '--reuse-external',
            '--diskspec',
            `hda,file=${mine}`,
          )
        ).out,
      ).toBe('Domain snapshot r1 created\n');
      expect((await run('dumpxml', name)).out).toContain(`<source file='${mine}'`);
      // QEMU would delete the internal snapshot from the overlay it now writes to: refused
      expect(await run('snapshot-delete', name, 'i1')).toMatchObject({
        code: 1,
        err: "error: Failed to delete snapshot i1\nerror: Operation not supported: disk image 'hda' for internal snapshot 'i1' is not the same as disk image currently used by VM\n",
      });
      // --halt: the guest stops once the snapshot is taken
      expect((await run('snapshot-create-as', name, 'r2', '--disk-only', '--halt')).out).toBe(
        'Domain snapshot r2 created\n',
      );
      expect((await run('domstate', name, '--reason')).out).toBe('shut off (from snapshot)\n\n');
      expect((await run('snapshot-list', name, '--name', '--topological')).out).toBe('i1\nr1\nr2\n\n');
      expect((await run('undefine', name, '--snapshots-metadata')).code).toBe(0);
    },
  );
});
