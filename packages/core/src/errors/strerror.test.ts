import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ERRNO, errnoName, errnoOf, strerror, systemErrorText } from './strerror.js';

describe('strerror', () => {
  it("gives glibc's texts, not libuv's", () => {
    expect(strerror('ENOENT')).toBe('No such file or directory');
    expect(strerror('EACCES')).toBe('Permission denied');
    expect(strerror('EBUSY')).toBe('Device or resource busy');
    expect(strerror('EEXIST')).toBe('File exists');
    expect(strerror('EISDIR')).toBe('Is a directory');
    expect(strerror('ENOMEM')).toBe('Cannot allocate memory');
    expect(strerror('ELOOP')).toBe('Too many levels of symbolic links');
    expect(strerror('EAGAIN')).toBe('Resource temporarily unavailable');
    expect(strerror('ETIMEDOUT')).toBe('Connection timed out');
    expect(strerror('EIO')).toBe('Input/output error');
    expect(strerror('EXDEV')).toBe('Invalid cross-device link');
    expect(strerror('ENOTCONN')).toBe('Transport endpoint is not connected');
  });

  it('reads aliases and numbers as their errno', () => {
    expect(strerror('ENOTSUP')).toBe('Operation not supported');
    expect(strerror('EOPNOTSUPP')).toBe('Operation not supported');
    expect(strerror('EWOULDBLOCK')).toBe(strerror('EAGAIN'));
    expect(strerror(2)).toBe('No such file or directory');
    expect(strerror(-13)).toBe('Permission denied');
  });

  it('knows every errno Node reports, with the same number', () => {
    for (const [name, n] of Object.entries(constants.errno)) {
      expect(ERRNO[name as keyof typeof ERRNO], name).toBe(n);
      expect(strerror(name), name).not.toBe(name);
      expect(strerror(n), name).toBe(strerror(name));
    }
  });

  it('says what it does not know', () => {
    expect(strerror(4242)).toBe('Unknown error 4242');
    expect(strerror('ENOTANERRNO')).toBe('ENOTANERRNO');
  });
});

describe('errno names', () => {
  it('names a number as Node does', () => {
    expect(errnoName(2)).toBe('ENOENT');
    expect(errnoName(11)).toBe('EAGAIN');
    expect(errnoName(95)).toBe('ENOTSUP');
    expect(errnoName(4242)).toBeUndefined();
  });

  it("finds the errno in a Node error's code, else its errno number", () => {
    expect(errnoOf(Object.assign(new Error('x'), { code: 'EROFS' }))).toBe('EROFS');
    expect(errnoOf({ code: 'ERR_STREAM_DESTROYED', errno: -32 })).toBe('EPIPE');
    expect(errnoOf(new Error('plain'))).toBeUndefined();
    expect(errnoOf('ENOENT')).toBeUndefined();
  });
});

describe('systemErrorText', () => {
  it('prefers the errno, then the message, then a non-errno code', () => {
    expect(systemErrorText(Object.assign(new Error('ENOSPC: no space'), { code: 'ENOSPC' }))).toBe(
      'No space left on device',
    );
    expect(systemErrorText(new Error('socket went away'))).toBe('socket went away');
    expect(systemErrorText({ code: 'ERR_SOMETHING' })).toBe('ERR_SOMETHING');
    expect(systemErrorText(undefined)).toBe('Unknown error');
    expect(systemErrorText(1)).toBe('Operation not permitted');
  });
});
