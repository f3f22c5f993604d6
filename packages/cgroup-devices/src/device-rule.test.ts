import { describe, expect, it } from 'vitest';
import {
  bpfKey,
  bpfValue,
  devMajor,
  devMinor,
  formatRule,
  mergeRules,
  parseRule,
  rule,
  ruleFromBpf,
} from './device-rule.js';

describe('device rules', () => {
  it('spells rules as cgroup v1 does', () => {
    expect(formatRule(rule('c', 1, 3, 'rw'))).toBe('c 1:3 rw');
    expect(formatRule(rule('c', 136, '*', 'rw'))).toBe('c 136:* rw');
    expect(formatRule(rule('a', '*', '*', 'rwm'))).toBe('a *:* rwm');
    expect(parseRule('b 7:0 r')).toEqual(rule('b', 7, 0, 'r'));
    expect(parseRule('a *:* rwm')).toEqual(rule('a', '*', '*', 'rwm'));
    expect(() => parseRule('x 1:2 rw')).toThrow("invalid device rule 'x 1:2 rw'");
  });

  it('encodes map entries as libvirt 9.0 does (vircgroupv2devices.c)', () => {
    // Observed on libvirt's own map: `c 1:3 rw` is 0x60002.
    expect(bpfValue(rule('c', 1, 3, 'rw'))).toBe(0x60002);
    expect(bpfValue(rule('b', 7, 0, 'r'))).toBe(0x20001);
    expect(bpfValue(rule('a', '*', '*', 'rwm'))).toBe(0x70003);
    expect(bpfKey(rule('c', 1, 3, 'rw'))).toBe(0x0000000100000003n);
    expect(bpfKey(rule('c', 136, '*', 'rw'))).toBe(0x00000088ffffffffn);
    expect(bpfKey(rule('a', '*', '*', 'rw'))).toBe(0xffffffffffffffffn);
    for (const r of [rule('c', 136, '*', 'rw'), rule('b', 254, 16, 'r'), rule('c', 10, 232, 'rwm')]) {
      expect(ruleFromBpf(bpfKey(r), bpfValue(r))).toEqual(r);
    }
  });

  it('unites the access of rules for the same device, as the kernel does', () => {
    expect(
      mergeRules([rule('b', 7, 0, 'r'), rule('c', 1, 3, 'rw'), rule('b', 7, 0, 'w')]).map(formatRule),
    ).toEqual(['b 7:0 rw', 'c 1:3 rw']);
  });

  it("splits dev_t like glibc's major()/minor()", () => {
    expect([devMajor(0x0103), devMinor(0x0103)]).toEqual([1, 3]);
    expect([devMajor(0xfe10), devMinor(0xfe10)]).toEqual([254, 16]);
    // glibc's makedev() puts majors above 4095 and minors above 255 in the high bits.
    const makedev = (ma: number, mi: number) =>
      Number(
        ((BigInt(ma) & 0xfffn) << 8n) |
          ((BigInt(ma) & ~0xfffn) << 32n) |
          (BigInt(mi) & 0xffn) |
          ((BigInt(mi) & ~0xffn) << 12n),
      );
    expect([devMajor(makedev(4100, 70000)), devMinor(makedev(4100, 70000))]).toEqual([4100, 70000]);
  });
});
