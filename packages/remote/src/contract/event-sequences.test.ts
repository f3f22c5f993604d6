/**
 * Issue #17's events as libvirt sends them: each lifecycle path of
 * tools/event-sequences/scenarios.json replayed against qvirt (in process and through qvirtd) and
 * its events, segment by segment, compared with what libvirt 9.0's libvirtd sent for the same
 * steps with the same guest (tools/event-sequences/recorded/libvirt-9.0.0.json, recorded once
 * by record.py). Every event id is listened to, so an event qvirt sends and libvirt does not (or
 * the other way round) fails the path as surely as a wrong order or detail.
 *
 * This file runs the scenario that boots the full test guest; event-sequences-guest.test.ts the
 * ones where the guest powers off, reboots or panics by itself.
 */
import { testGuest } from '@qvirt/test-guest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalize, RECORDED, replay, scenario } from '../test-support/event-replay.js';
import { bothWays, type Way } from '../test-support/ways.js';

const guest = testGuest();
const sc = scenario('lifecycle');

describe.skipIf(!guest || !RECORDED?.lifecycle).each(bothWays('qvirt-evseq-'))(
  "a domain's lifecycle events as libvirt's %s",
  (_label, open) => {
    let way: Way;
    let got: Record<string, unknown[][]>;
    beforeAll(async () => {
      way = await open();
      got = await replay(way.conn, way.dir, sc, guest!);
    }, 600_000);
    afterAll(() => way?.close());

    it.each(sc.segments.map((s) => s.name))('%s', (segment) => {
      expect(normalize(got[segment]!)).toEqual(normalize(RECORDED!.lifecycle![segment]!));
    });
  },
);
