import { describe, expect, it } from 'vitest';
import { greetingBootSector } from './boot-sector.js';

describe('greetingBootSector', () => {
  it('is 512 bytes with the boot signature and the greeting', () => {
    const s = greetingBootSector('hi there');
    expect(s.length).toBe(512);
    expect([s[510], s[511]]).toEqual([0x55, 0xaa]);
    expect(Buffer.from(s).includes('hi there\r\n\0')).toBe(true);
    expect(() => greetingBootSector('x'.repeat(500))).toThrow(/too long/);
  });
});
