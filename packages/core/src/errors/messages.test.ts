import { describe, expect, it } from 'vitest';
import { ERROR_CODES, type VirErrorCode } from './codes.js';
import { virErrorMessage, virErrorMsg } from './messages.js';

const codes = Object.keys(ERROR_CODES).filter((c): c is VirErrorCode => c !== 'OK');

describe('virErrorMsg', () => {
  it('gives libvirt 9.0 texts with and without detail', () => {
    // Read off virErrorMsgStrings in libvirt 9.0's src/util/virerror.c.
    expect(virErrorMsg('INTERNAL_ERROR')).toBe('internal error');
    expect(virErrorMsg('INTERNAL_ERROR', 'x')).toBe('internal error: %s');
    expect(virErrorMsg('NO_DOMAIN')).toBe('Domain not found');
    expect(virErrorMsg('NO_DOMAIN', 'x')).toBe('Domain not found: %s');
    expect(virErrorMsg('OPERATION_INVALID', 'x')).toBe('Requested operation is not valid: %s');
    expect(virErrorMsg('NO_SUPPORT', 'x')).toBe(
      'this function is not supported by the connection driver: %s',
    );
    expect(virErrorMsg('XML_ERROR')).toBe('XML description is invalid or not well formed');
    expect(virErrorMsg('XML_ERROR', 'x')).toBe('XML error: %s');
    expect(virErrorMsg('SYSTEM_ERROR')).toBe('system call error');
    expect(virErrorMsg('SYSTEM_ERROR', 'x')).toBe('%s');
    expect(virErrorMsg('DOM_EXIST', 'x')).toBe('domain %s exists already');
    expect(virErrorMsg('OPERATION_DENIED')).toBe('operation forbidden for read only access');
  });

  it('has both forms for every code, the detailed one with exactly one %s', () => {
    for (const code of codes) {
      const bare = virErrorMsg(code);
      const withInfo = virErrorMsg(code, 'detail');
      expect(bare, code).not.toContain('%');
      expect(withInfo.split('%s'), code).toHaveLength(2);
    }
  });

  it('takes an empty detail as a detail, as libvirt tests for a non-NULL string', () => {
    expect(virErrorMsg('OPERATION_FAILED', '')).toBe('operation failed: %s');
    expect(virErrorMsg('OPERATION_FAILED', null)).toBe('operation failed');
  });
});

describe('virErrorMessage', () => {
  it('puts the detail where the format has it', () => {
    expect(virErrorMessage('INTERNAL_ERROR', 'boom')).toBe('internal error: boom');
    expect(virErrorMessage('UNKNOWN_HOST', 'h1')).toBe('unknown host h1');
    expect(virErrorMessage('NETWORK_EXIST', 'net0')).toBe('network net0 exists already');
    expect(virErrorMessage('RPC', 'End of file while reading data')).toBe('End of file while reading data');
    expect(virErrorMessage('CONFIG_UNSUPPORTED')).toBe('unsupported configuration');
  });

  it('keeps $ patterns and %s in the detail literal', () => {
    expect(virErrorMessage('INVALID_ARG', "bad '$&' and $1 and %s")).toBe(
      "invalid argument: bad '$&' and $1 and %s",
    );
  });

  it('reads, for every code, as the bare text followed by the detail or with it inside', () => {
    for (const code of codes) {
      const message = virErrorMessage(code, 'DETAIL');
      expect(message, code).toContain('DETAIL');
      expect(message.replace('DETAIL', '%s')).toBe(virErrorMsg(code, 'DETAIL'));
    }
  });
});
