import { describe, expect, it } from 'vitest';
import { PROTOCOL } from '../protocol/facts.js';
import * as C from './constants.js';

/** The few numbers the RPC layer names itself must be libvirt's, as the generated facts have them. */
describe("the RPC layer's constants", () => {
  it("equal libvirt 9.0's protocol facts", () => {
    expect(C.REMOTE_PROGRAM).toBe(PROTOCOL.programs.REMOTE!.program);
    expect(C.REMOTE_PROTOCOL_VERSION).toBe(PROTOCOL.programs.REMOTE!.version);
    expect(C.KEEPALIVE_PROGRAM).toBe(PROTOCOL.programs.KEEPALIVE!.program);
    expect(C.KEEPALIVE_PROTOCOL_VERSION).toBe(PROTOCOL.programs.KEEPALIVE!.version);
    for (const name of Object.keys(C).filter((k) => k.startsWith('REMOTE_') && k.endsWith('_MAX'))) {
      expect({ name, value: (C as Record<string, unknown>)[name] }).toEqual({
        name,
        value: PROTOCOL.constants[name],
      });
    }
    expect(C.UUID_BUFLEN).toBe(16);
  });
});
