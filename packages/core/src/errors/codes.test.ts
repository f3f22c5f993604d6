import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ERROR_DOMAINS } from './codes.js';

describe('virErrorNumber / virErrorDomain tables', () => {
  it('numbers the codes as virterror.h does', () => {
    expect(ERROR_CODES.OK).toBe(0);
    expect(ERROR_CODES.INTERNAL_ERROR).toBe(1);
    expect(ERROR_CODES.SYSTEM_ERROR).toBe(38);
    expect(ERROR_CODES.WAR_NO_NETWORK).toBe(41);
    expect(ERROR_CODES.NO_DOMAIN).toBe(42);
    expect(ERROR_CODES.OPERATION_INVALID).toBe(55);
    expect(ERROR_CODES.MULTIPLE_DOMAINS).toBe(110);
  });

  it('has one name per number, without gaps (VIR_ERR_NUMBER_LAST is 111)', () => {
    const numbers = Object.values(ERROR_CODES).sort((a, b) => a - b);
    expect(numbers).toEqual(numbers.map((_, i) => i));
    expect(numbers).toHaveLength(111);
  });

  it('numbers the domains as virterror.h does, in lower case', () => {
    expect(ERROR_DOMAINS.none).toBe(0);
    expect(ERROR_DOMAINS.rpc).toBe(7);
    expect(ERROR_DOMAINS.qemu).toBe(10);
    expect(ERROR_DOMAINS.domain).toBe(20);
    expect(ERROR_DOMAINS.security).toBe(24);
    expect(ERROR_DOMAINS.ch).toBe(72);
    const numbers = Object.values(ERROR_DOMAINS).sort((a, b) => a - b);
    expect(numbers).toEqual(numbers.map((_, i) => i));
    for (const name of Object.keys(ERROR_DOMAINS)) expect(name).toBe(name.toLowerCase());
  });
});
