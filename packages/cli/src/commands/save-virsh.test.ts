import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { countsIn } from '@qvirt/driver';
import { describe, expect, it } from 'vitest';
import { cliTestDaemonPerFile, hasVirsh, writeCounterGuest } from '../test-support/test-daemon.js';

const { t, virsh, qvirsh } = cliTestDaemonPerFile('qvirt-cli-save-');

const counts = (log: string) => countsIn(existsSync(log) ? readFileSync(log, 'latin1') : '');
async function countsPast(log: string, last: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (counts(log).some((x) => x > last)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no count past ${last}`);
}

function defineCounter(name: string): { file: string; log: string } {
  const log = path.join(t.dir, `${name}-serial.log`);
  return { file: writeCounterGuest(t.dir, name, { serialLog: log }), log };
}

describe.each([
  ['virsh', virsh],
  ['qvirsh', qvirsh],
])('save and managed save with %s through qvirtd', (tool, run) => {
  it.runIf(tool === 'qvirsh' || hasVirsh)(
    'save, save-image-dumpxml, restore: the guest counts on',
    async () => {
      const name = `sv-${tool}`;
      const { file, log } = defineCounter(name);
      expect((await run('create', file)).code).toBe(0);
      await countsPast(log, 2);
      const image = path.join(t.dir, `${name}.save`);
      expect(await run('save', name, image)).toEqual({
        code: 0,
        out: `\nDomain '${name}' saved to ${image}\n\n`,
        err: '',
      });
      const last = Math.max(...counts(log));
      const dumped = await run('save-image-dumpxml', image);
      expect(dumped.out).toMatch(new RegExp(`^<domain type='qemu'>\\n  <name>${name}</name>`));
      writeFileSync(
        path.join(t.dir, `${name}-new.xml`),
        dumped.out.replace('</devices>', '</devices>\n  <description>d</description>'),
      );
      expect(await run('save-image-define', image, path.join(t.dir, `${name}-new.xml`), '--paused')).toEqual({
        code: 0,
        out: `State file ${image} updated.\n\n`,
        err: '',
      });
      expect(await run('restore', image, '--running')).toEqual({
        code: 0,
        out: `Domain restored from ${image}\n\n`,
        err: '',
      });
      expect((await run('domstate', '--reason', name)).out).toBe('running (restored)\n\n');
      await countsPast(log, last);
      expect(counts(log).filter((x) => x < last - 1)).toEqual([]);
      expect((await run('destroy', name)).code).toBe(0);
    },
  );

  it.runIf(tool === 'qvirsh' || hasVirsh)(
    'managedsave, list --managed-save, dominfo, start, undefine',
    async () => {
      const name = `ms-${tool}`;
      const { file, log } = defineCounter(name);
      expect((await run('define', file)).code).toBe(0);
      expect((await run('start', name)).code).toBe(0);
      await countsPast(log, 2);
      expect(await run('managedsave', name)).toEqual({
        code: 0,
        out: `\nDomain '${name}' state saved by libvirt\n\n`,
        err: '',
      });
      const last = Math.max(...counts(log));
      // the save's statistics, kept until read: virsh and qvirsh print the same
      const completed = await run('domjobinfo', name, '--completed', '--keep-completed');
      expect(completed.out).toMatch(
        /^Job type: {9}Completed {3}\nOperation: {8}Save {8}\nTime elapsed: +\d+ +ms\n/,
      );
      expect(completed.out).toMatch(/\nMemory processed: \d+\.\d{3} [KMG]iB\nMemory remaining: 0\.000 B\n/);
      expect(completed.out).toMatch(/\nTotal downtime: +\d+ +ms\n/);
      if (hasVirsh)
        for (const other of [virsh, qvirsh])
          expect(await other('domjobinfo', name, '--completed', '--keep-completed')).toEqual(completed);
      expect(await run('domjobinfo', name, '--completed')).toEqual(completed);
      expect(await run('domjobinfo', name, '--completed')).toEqual({
        code: 0,
        out: 'Job type:         None        \n\n',
        err: '',
      });
      expect(await run('domjobinfo', name, '--keep-completed')).toMatchObject({
        code: 1,
        err: 'error: Option --completed is required by option --keep-completed\n',
      });
      expect((await run('list', '--all', '--managed-save')).out).toContain(` -    ${name}   saved\n`);
      expect((await run('list', '--all', '--with-managed-save', '--name')).out.split('\n')).toContain(name);
      expect((await run('list', '--all', '--without-managed-save', '--name')).out.split('\n')).not.toContain(
        name,
      );
      expect((await run('dominfo', name)).out).toMatch(/\nManaged save: {3}yes\n/);
      expect((await run('managedsave-dumpxml', name)).out).toContain(`<name>${name}</name>`);
      expect(await run('undefine', name)).toMatchObject({
        code: 1,
        err: 'error: Refusing to undefine while domain managed save image exists\n',
      });
      expect(await run('start', name)).toEqual({ code: 0, out: `Domain '${name}' started\n\n`, err: '' });
      expect(await run('domjobabort', name)).toMatchObject({
        code: 1,
        err: 'error: Requested operation is not valid: no job is active on the domain\n',
      });
      await countsPast(log, last);
      expect(counts(log).filter((x) => x < last - 1)).toEqual([]);
      expect((await run('dominfo', name)).out).toMatch(/\nManaged save: {3}no\n/);
      expect((await run('managedsave', name)).code).toBe(0);
      expect(await run('managedsave-remove', name)).toEqual({
        code: 0,
        out: `Removed managedsave image for domain '${name}'\n`,
        err: '',
      });
      expect(await run('managedsave-remove', name)).toEqual({
        code: 0,
        out: `Domain '${name}' has no manage save image; removal skipped\n`,
        err: '',
      });
      expect((await run('managedsave-dumpxml', name)).err).toBe(
        'error: Requested operation is not valid: domain does not have managed save image\n',
      );
      expect(await run('undefine', name, '--managed-save', '--snapshots-metadata')).toEqual({
        code: 0,
        out: `Domain '${name}' has been undefined\n\n`,
        err: '',
      });
    },
  );

  it.runIf(tool === 'qvirsh' || hasVirsh)('undefine: --nvram, --keep-nvram, or refused', async () => {
    const name = `nv-${tool}`;
    const nvram = path.join(t.dir, `${name}_VARS.fd`);
    const file = path.join(t.dir, `${name}.xml`);
    writeFileSync(
      file,
      `<domain type='qemu'><name>${name}</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader><nvram>${nvram}</nvram></os>
<features><acpi/></features><devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>`,
    );
    writeFileSync(nvram, Buffer.alloc(4096));
    expect((await run('define', file)).code).toBe(0);
    expect(await run('undefine', name)).toMatchObject({
      code: 1,
      err: `error: Failed to undefine domain '${name}'\nerror: Requested operation is not valid: cannot undefine domain with nvram\n`,
    });
    expect(await run('undefine', name, '--keep-nvram')).toEqual({
      code: 0,
      out: `Domain '${name}' has been undefined\n\n`,
      err: '',
    });
    expect(existsSync(nvram)).toBe(true);
    expect((await run('define', file)).code).toBe(0);
    expect(await run('undefine', name, '--nvram')).toEqual({
      code: 0,
      out: `Domain '${name}' has been undefined\n\n`,
      err: '',
    });
    expect(existsSync(nvram)).toBe(false);
  });

  it.runIf(tool === 'qvirsh' || hasVirsh)(
    'save-image-edit and managedsave-edit run $EDITOR on the image XML',
    async () => {
      const name = `ed-${tool}`;
      const { file } = defineCounter(name);
      expect((await run('define', file)).code).toBe(0);
      expect((await run('start', name, '--paused')).code).toBe(0);
      const image = path.join(t.dir, `${name}.save`);
      expect((await run('save', name, image)).code).toBe(0);
      // virsh runs $VISUAL, else $EDITOR, on a temporary copy: here a sed script
      const editor = path.join(t.dir, `${name}-edit.sh`);
      writeFileSync(
        editor,
        '#!/bin/sh\nsed -i \'s|</devices>|</devices>\\n  <description>edited</description>|\' "$1"\n',
        {
          mode: 0o755,
        },
      );
      const saved = { VISUAL: process.env.VISUAL, EDITOR: process.env.EDITOR };
      delete process.env.VISUAL;
      try {
        process.env.EDITOR = editor;
        expect(await run('save-image-edit', image, '--running')).toEqual({
          code: 0,
          out: `State file ${image} edited.\n\n`,
          err: '',
        });
        expect((await run('save-image-dumpxml', image)).out).toContain('<description>edited</description>');
        process.env.EDITOR = 'true';
        expect(await run('save-image-edit', image)).toEqual({
          code: 0,
          out: `Saved image ${image} XML configuration not changed.\n\n`,
          err: '',
        });
        expect((await run('restore', image)).code).toBe(0);
        expect((await run('domstate', name)).out).toBe('running\n\n');
        expect((await run('managedsave', name)).code).toBe(0);
        process.env.EDITOR = editor.replace(/edit\.sh$/, 'edit2.sh');
        writeFileSync(process.env.EDITOR, '#!/bin/sh\nsed -i \'s|edited|edited twice|\' "$1"\n', {
          mode: 0o755,
        });
        expect(await run('managedsave-edit', name, '--paused')).toEqual({
          code: 0,
          out: `Managed save image of Domain '${name}' XML configuration edited.\n\n`,
          err: '',
        });
        expect((await run('managedsave-dumpxml', name)).out).toContain(
          '<description>edited twice</description>',
        );
        process.env.EDITOR = 'true';
        expect(await run('managedsave-edit', name)).toEqual({
          code: 0,
          out: `Managed save image of domain '${name}' XML configuration not changed.\n\n`,
          err: '',
        });
      } finally {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
      expect((await run('start', name)).code).toBe(0);
      expect((await run('domstate', name)).out).toBe('paused\n\n');
      expect((await run('destroy', name)).code).toBe(0);
      expect((await run('undefine', name)).code).toBe(0);
    },
  );
});
