/**
 * The scenarios of event-sequences.test.ts and event-sequences-guest.test.ts through qvirtd
 * with libvirt-python as the client (so every event id on the wire is decoded by libvirt's own
 * client library): tools/event-sequences/record.py itself, the recorder of libvirt's sequences, pointed
 * at a qvirtd (`--uri`), with its files in the test's directory, and its output compared with
 * libvirt 9.0's recording segment by segment.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { QemuDriver } from '@qvirt/driver';
import { testGuest } from '@qvirt/test-guest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultDaemonConfig } from '../daemon/config.js';
import { type Daemon, startDaemon } from '../daemon/daemon.js';
import { actionsArchive, type Entry, normalize, RECORDED, scenario } from '../test-support/event-replay.js';
import { killMentioning, makeTestDir } from '../test-support/harness.js';

const PYTHON = '/usr/bin/python3';
const hasPythonLibvirt = existsSync(PYTHON) && existsSync('/usr/lib/python3/dist-packages/libvirt.py');
const RECORD = path.resolve(import.meta.dirname, '../../../../tools/event-sequences/record.py');
const guest = testGuest();
const actions = actionsArchive();
const NAMES = [
  'lifecycle',
  ...(actions
    ? ['guest-poweroff', 'guest-reboot-destroy', 'guest-suspend', 'panic-destroy', 'panic-restart']
    : []),
  'qemu-killed',
  'agent',
  // virDomainPMSuspendForDuration / PMWakeup, once the driver has them
  ...(typeof (QemuDriver.prototype as unknown as Record<string, unknown>).domainPMWakeup === 'function'
    ? ['pmsuspend']
    : []),
];

describe.skipIf(!hasPythonLibvirt || !guest || !RECORDED)(
  'events of each lifecycle path through qvirtd to libvirt-python, as libvirt sends them',
  () => {
    // a short directory: the agent channel's socket path must stay under 108 bytes
    const t = { dir: '', uri: '', daemon: undefined as Daemon | undefined };
    beforeAll(async () => {
      const { dir, root } = makeTestDir('qvevp-');
      t.dir = dir;
      t.daemon = await startDaemon({
        uri: `qemu:///embed?root=${root}`,
        socketDir: path.join(dir, 'sock'),
        config: defaultDaemonConfig(),
      });
      t.uri = `qemu+unix:///system?socket=${t.daemon.sockets.rw}`;
    });
    afterAll(async () => {
      await t.daemon?.close();
      killMentioning(t.dir);
      rmSync(t.dir, { recursive: true, force: true });
    });

    it.each(NAMES)(
      '%s',
      async (name) => {
        const out = path.join(t.dir, `${name}.json`);
        const stderr = await new Promise<string>((resolve, reject) =>
          execFile(
            PYTHON,
            [RECORD, '--uri', t.uri, '--work', path.join(t.dir, 'work'), '--out', out, name],
            { env: { ...process.env, LIBVIRT_AUTOSTART: '0' }, timeout: 230_000 },
            (err, _o, e) => (err ? reject(new Error(`${err.message}\n${e}`)) : resolve(e)),
          ),
        );
        const got = JSON.parse(readFileSync(out, 'utf8')).scenarios[name] as Record<string, Entry[]>;
        for (const seg of scenario(name).segments) {
          expect(normalize(got[seg.name] ?? []), `${name}/${seg.name}\n${stderr}`).toEqual(
            normalize(RECORDED![name]![seg.name]!),
          );
        }
      },
      240_000,
    );
  },
);
