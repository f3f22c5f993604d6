/**
 * Issue #17's events for what the guest does by itself: it powers off, reboots (with
 * <on_reboot> restart and destroy), suspends to RAM and panics through pvpanic (with <on_crash>
 * destroy, preserve and restart); and for QEMU killed under the driver and the guest agent
 * coming and going.
 * Replayed against qvirt in process and compared with libvirt 9.0's recording
 * (tools/event-sequences/recorded/libvirt-9.0.0.json); event-sequences-python.test.ts replays
 * the same scenarios through qvirtd with libvirt-python. The guest that acts by itself is the
 * test guest's kernel with tools/event-sequences/build-actions.sh's archive (rdinit=/act); those
 * scenarios skip, saying so, where that archive was not built.
 */
import { QemuDriver } from '@qvirt/driver';
import { testGuest } from '@qvirt/test-guest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionsArchive, normalize, RECORDED, replay, scenario } from '../test-support/event-replay.js';
import { inProcess, type Way } from '../test-support/ways.js';

const guest = testGuest();
const actions = actionsArchive();
if (guest && !actions)
  console.warn('event-sequences-guest: run tools/event-sequences/build-actions.sh first');
/** The scenarios where the guest acts by itself, and the others of this file. */
const ACTIONS = [
  'guest-poweroff',
  'guest-reboot-restart',
  'guest-reboot-destroy',
  'guest-suspend',
  'panic-destroy',
  'panic-preserve',
  'panic-restart',
];
const OTHERS = ['qemu-killed', 'agent'];
const NAMES = [...(actions ? ACTIONS : []), ...OTHERS];
/** virDomainPMSuspendForDuration / PMWakeup (the guest suspends to RAM through its agent). */
const hasPM =
  typeof (QemuDriver.prototype as unknown as Record<string, unknown>).domainPMWakeup === 'function';

describe.skipIf(!guest || !RECORDED)(
  'events of what the guest does by itself, as libvirt sends them, in process',
  () => {
    let way: Way;
    beforeAll(async () => {
      // a short directory: the agent channel's socket path must stay under 108 bytes
      way = await inProcess('qvevg-');
    });
    afterAll(() => way?.close());

    const check = async (name: string) => {
      const sc = scenario(name);
      const got = await replay(way.conn, way.dir, sc, guest!, actions);
      for (const seg of sc.segments) {
        expect(normalize(got[seg.name] ?? []), `${name}/${seg.name}`).toEqual(
          normalize(RECORDED![name]![seg.name]!),
        );
      }
    };

    it.each(NAMES)('%s', (name) => check(name), 240_000);

    it.skipIf(!hasPM)(
      'pmsuspend (virDomainPMSuspendForDuration and PMWakeup, where the driver has them)',
      () => check('pmsuspend'),
      240_000,
    );
  },
);
