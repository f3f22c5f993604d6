import { describe, expect, it } from 'vitest';
import { VirError, virReportError, virReportSystemError } from './errors.js';

describe('virReportError', () => {
  it("prefixes the detail with the code's text", () => {
    const err = virReportError('OPERATION_INVALID', 'qemu', 'domain is not running');
    expect(err).toBeInstanceOf(VirError);
    expect(err.code).toBe('OPERATION_INVALID');
    expect(err.domain).toBe('qemu');
    expect(err.message).toBe('Requested operation is not valid: domain is not running');
  });

  it("uses the code's bare text without a detail, and keeps where and cause", () => {
    const cause = new Error('inner');
    const err = virReportError('NO_DOMAIN', 'qemu', undefined, { where: 'a.xml', cause });
    expect(err.message).toBe('Domain not found');
    expect(err.where).toBe('a.xml');
    expect(err.cause).toBe(cause);
  });
});

describe('virReportSystemError', () => {
  it('appends the strerror text of a Node error and keeps it as cause', () => {
    const cause = Object.assign(new Error("EACCES: permission denied, open '/x'"), { code: 'EACCES' });
    const err = virReportSystemError(cause, 'conf', "Failed to open file '/x'");
    expect(err.code).toBe('SYSTEM_ERROR');
    expect(err.domain).toBe('conf');
    expect(err.message).toBe("Failed to open file '/x': Permission denied");
    expect(err.cause).toBe(cause);
  });

  it('takes an errno number or name, with the name readable as cause.code', () => {
    const byNumber = virReportSystemError(16, 'qemu', 'Unable to delete tap');
    expect(byNumber.message).toBe('Unable to delete tap: Device or resource busy');
    expect(byNumber.cause).toEqual({ code: 'EBUSY', errno: 16 });
    const byName = virReportSystemError('ENOENT', 'qemu', 'cannot open directory');
    expect(byName.message).toBe('cannot open directory: No such file or directory');
    expect(byName.cause).toEqual({ code: 'ENOENT', errno: 2 });
  });

  it('is the strerror text alone without a message', () => {
    expect(virReportSystemError('EPERM', 'security').message).toBe('Operation not permitted');
  });
});
