import { describe, expect, it } from 'vitest';
import { UriError } from '../errors.js';
import {
  type ConnectionUri,
  defaultPort,
  defaultUri,
  formatConnectionUri,
  isLocal,
  parseConnectionUri,
  remoteName,
  resolveDefaultUri,
} from './index.js';

const base: ConnectionUri = {
  driver: 'qemu',
  transport: undefined,
  effectiveTransport: 'unix',
  user: undefined,
  host: undefined,
  port: undefined,
  effectivePort: undefined,
  instance: 'system',
  root: undefined,
  params: {},
  extraParams: [],
};

const accepts: Array<[string, Partial<ConnectionUri>]> = [
  ['qemu:///session', { instance: 'session' }],
  ['qemu+unix:///session', { instance: 'session', transport: 'unix' }],
  ['qemu:///system', {}],
  ['qemu+unix:///system', { transport: 'unix' }],
  ['qemu://example.com/system', { effectiveTransport: 'tls', host: 'example.com', effectivePort: 16514 }],
  [
    'qemu+tls://example.com:1234/session',
    {
      transport: 'tls',
      effectiveTransport: 'tls',
      host: 'example.com',
      port: 1234,
      effectivePort: 1234,
      instance: 'session',
    },
  ],
  [
    'qemu+tcp://example.com/system',
    { transport: 'tcp', effectiveTransport: 'tcp', host: 'example.com', effectivePort: 16509 },
  ],
  [
    'qemu+ssh://root@example.com/system',
    { transport: 'ssh', effectiveTransport: 'ssh', user: 'root', host: 'example.com', effectivePort: 22 },
  ],
  ['qemu:///embed?root=/abs/dir', { effectiveTransport: 'in-process', instance: 'embed', root: '/abs/dir' }],
  [
    'qemu+ssh://root@[2001:db8::1]:2222/system',
    {
      transport: 'ssh',
      effectiveTransport: 'ssh',
      user: 'root',
      host: '2001:db8::1',
      port: 2222,
      effectivePort: 2222,
    },
  ],
  [
    'qemu+tcp://[::1]/system',
    { transport: 'tcp', effectiveTransport: 'tcp', host: '::1', effectivePort: 16509 },
  ],
  [
    'qemu://[fe80::1%25eth0]/system',
    { effectiveTransport: 'tls', host: 'fe80::1%eth0', effectivePort: 16514 },
  ],
  [
    'qemu://192.0.2.7:16600/system',
    { effectiveTransport: 'tls', host: '192.0.2.7', port: 16600, effectivePort: 16600 },
  ],
  [
    'qemu+unix:///system?socket=/opt/my%20dir/libvirt-sock',
    { transport: 'unix', params: { socket: '/opt/my dir/libvirt-sock' } },
  ],
  [
    'qemu:///embed?root=/tmp/a%26b%3Dc',
    { effectiveTransport: 'in-process', instance: 'embed', root: '/tmp/a&b=c' },
  ],
  [
    'qemu+ssh://j%40doe@example.com/system',
    { transport: 'ssh', effectiveTransport: 'ssh', user: 'j@doe', host: 'example.com', effectivePort: 22 },
  ],
  ['qemu+unix:///system?mode=legacy', { transport: 'unix', params: { mode: 'legacy' } }],
  ['qemu:///session?mode=direct', { instance: 'session', params: { mode: 'direct' } }],
  ['qemu:///system?mode=auto', { params: { mode: 'auto' } }],
  [
    'qemu://example.com/system?no_verify=1&pkipath=/tmp/pki&tls_priority=NORMAL:-VERS-SSL3.0&no_sanity=0',
    {
      effectiveTransport: 'tls',
      host: 'example.com',
      effectivePort: 16514,
      params: { no_verify: true, pkipath: '/tmp/pki', tls_priority: 'NORMAL:-VERS-SSL3.0', no_sanity: false },
    },
  ],
  [
    'qemu+ssh://root@example.com/system?keyfile=/root/.ssh/k&no_tty=1&netcat=/opt/nc&command=/opt/ssh&proxy=netcat&socket=/run/x-sock&no_verify=0',
    {
      transport: 'ssh',
      effectiveTransport: 'ssh',
      user: 'root',
      host: 'example.com',
      effectivePort: 22,
      params: {
        keyfile: '/root/.ssh/k',
        no_tty: true,
        netcat: '/opt/nc',
        command: '/opt/ssh',
        proxy: 'netcat',
        socket: '/run/x-sock',
        no_verify: false,
      },
    },
  ],
  [
    'qemu+libssh://user@host/system?known_hosts=/home/user/.ssh/known_hosts',
    {
      transport: 'libssh',
      effectiveTransport: 'libssh',
      user: 'user',
      host: 'host',
      effectivePort: 22,
      params: { known_hosts: '/home/user/.ssh/known_hosts' },
    },
  ],
  [
    'qemu+libssh2://user@host/system?known_hosts_verify=ignore&sshauth=privkey,agent',
    {
      transport: 'libssh2',
      effectiveTransport: 'libssh2',
      user: 'user',
      host: 'host',
      effectivePort: 22,
      params: { known_hosts_verify: 'ignore', sshauth: ['privkey', 'agent'] },
    },
  ],
  [
    'qemu+ext:///system?command=/usr/local/bin/tunnel',
    { transport: 'ext', effectiveTransport: 'ext', params: { command: '/usr/local/bin/tunnel' } },
  ],
  [
    'qemu+tcp://example.com/system?name=qemu:///session&auth=sasl&authfile=/etc/libvirt/auth.conf',
    {
      transport: 'tcp',
      effectiveTransport: 'tcp',
      host: 'example.com',
      effectivePort: 16509,
      params: { name: 'qemu:///session', auth: 'sasl', authfile: '/etc/libvirt/auth.conf' },
    },
  ],
  // libvirt compares parameter names and the transport case-insensitively.
  [
    'qemu+SSH://example.com/system?NO_VERIFY=1&Known_Hosts_Verify=AUTO',
    {
      transport: 'ssh',
      effectiveTransport: 'ssh',
      host: 'example.com',
      effectivePort: 22,
      params: { no_verify: true, known_hosts_verify: 'auto' },
    },
  ],
  // With no '&' left, ';' separates parameters (virURIParseParams).
  [
    'qemu+unix:///system?mode=direct;socket=/run/s',
    { transport: 'unix', params: { mode: 'direct', socket: '/run/s' } },
  ],
  ['qemu:///syst%65m', {}],
];

describe('parseConnectionUri accepts', () => {
  it.each(accepts)('%s', (text, expected) => {
    expect(parseConnectionUri(text)).toEqual({ ...base, ...expected });
  });
});

describe('formatConnectionUri', () => {
  it.each(accepts)('round-trips %s', (text) => {
    const parsed = parseConnectionUri(text);
    const formatted = formatConnectionUri(parsed);
    expect(parseConnectionUri(formatted)).toEqual(parsed);
    expect(formatConnectionUri(parseConnectionUri(formatted))).toBe(formatted);
  });

  it.each([
    'qemu:///system',
    'qemu:///session',
    'qemu+unix:///system',
    'qemu://example.com/system',
    'qemu+tcp://example.com/system',
    'qemu+ssh://root@example.com/system',
    'qemu:///embed?root=/abs/dir',
    'qemu+ssh://root@[2001:db8::1]:2222/system',
    'qemu://[fe80::1%25eth0]/system',
    'qemu+unix:///system?socket=/opt/my%20dir/libvirt-sock&mode=legacy',
    'qemu:///embed?root=/tmp/a%26b%3Dc%2Bd',
    'qemu+ssh://j%40doe@example.com/system?netcat=/opt/nc&keyfile=/root/.ssh/k&no_tty=1',
    'qemu://example.com/system?pkipath=/tmp/pki&tls_priority=NORMAL:-VERS-SSL3.0&no_verify=1',
    'qemu+libssh2://user@host/system?sshauth=privkey,agent&known_hosts=/k&known_hosts_verify=ignore',
  ])('keeps canonical %s unchanged', (text) => {
    expect(formatConnectionUri(parseConnectionUri(text))).toBe(text);
  });

  it('formats from parts, writing parameters in a fixed order', () => {
    expect(
      formatConnectionUri({
        transport: 'ssh',
        user: 'root',
        host: 'example.com',
        port: 2222,
        instance: 'system',
        params: { no_tty: true, keyfile: '/k', sshauth: ['agent'] },
      }),
    ).toBe('qemu+ssh://root@example.com:2222/system?sshauth=agent&keyfile=/k&no_tty=1');
    expect(formatConnectionUri({ instance: 'embed', root: '/var/tmp/q vm' })).toBe(
      'qemu:///embed?root=/var/tmp/q%20vm',
    );
  });

  it('refuses parts that do not make a valid URI', () => {
    expect(() => formatConnectionUri({ transport: 'unix', host: 'example.com', instance: 'system' })).toThrow(
      "invalid connection URI 'qemu+unix://example.com/system': transport 'unix' cannot be used with a host ('example.com'); use tls, tcp or ssh",
    );
  });
});

/** Each row is one error: the URI and the exact one-line message. */
const rejects: Array<[string, string, string]> = [
  ['empty', '', 'connection URI is empty'],
  [
    'whitespace',
    'qemu:///system ',
    "invalid connection URI 'qemu:///system ': whitespace or control character at offset 14",
  ],
  [
    'control character',
    'qemu:///sys\ntem',
    "invalid connection URI 'qemu:///sys\\x0atem': whitespace or control character at offset 11",
  ],
  [
    'no scheme',
    '/var/run/libvirt/libvirt-sock',
    "invalid connection URI '/var/run/libvirt/libvirt-sock': no driver name (expected a URI like qemu:///system)",
  ],
  [
    'unknown driver',
    'xen:///system',
    "invalid connection URI 'xen:///system': unknown driver 'xen' (qvirt only provides qemu)",
  ],
  [
    'driver is case-sensitive',
    'QEMU:///system',
    "invalid connection URI 'QEMU:///system': unknown driver 'QEMU' (qvirt only provides qemu)",
  ],
  [
    'unknown transport',
    'qemu+http://example.com/system',
    "invalid connection URI 'qemu+http://example.com/system': unknown transport 'http' (expected unix, tls, tcp, ssh, libssh, libssh2 or ext)",
  ],
  [
    'empty transport',
    'qemu+:///system',
    "invalid connection URI 'qemu+:///system': unknown transport '' (expected unix, tls, tcp, ssh, libssh, libssh2 or ext)",
  ],
  [
    'no authority',
    'qemu:/system',
    "invalid connection URI 'qemu:/system': expected '//' after 'qemu:' (as in qemu:///system)",
  ],
  [
    'password',
    'qemu+ssh://root:hunter2@example.com/system',
    "invalid connection URI 'qemu+ssh://root:***@example.com/system': a password in the user part is not supported",
  ],
  [
    'empty user',
    'qemu+ssh://@example.com/system',
    "invalid connection URI 'qemu+ssh://@example.com/system': empty user name before '@'",
  ],
  [
    'bad host',
    'qemu://exa<mple/system',
    "invalid connection URI 'qemu://exa<mple/system': invalid host 'exa<mple'",
  ],
  [
    'bad IPv6',
    'qemu://[2001:zz::1]/system',
    "invalid connection URI 'qemu://[2001:zz::1]/system': invalid IPv6 address '[2001:zz::1]'",
  ],
  [
    'unterminated IPv6',
    'qemu://[::1/system',
    "invalid connection URI 'qemu://[::1/system': unterminated IPv6 address '[::1'",
  ],
  [
    'non-numeric port',
    'qemu://example.com:ssh/system',
    "invalid connection URI 'qemu://example.com:ssh/system': port 'ssh' is not a number",
  ],
  [
    'empty port',
    'qemu://example.com:/system',
    "invalid connection URI 'qemu://example.com:/system': port '' is not a number",
  ],
  [
    'port too large',
    'qemu+tcp://example.com:65536/system',
    "invalid connection URI 'qemu+tcp://example.com:65536/system': port 65536 is out of range (1-65535)",
  ],
  [
    'port zero',
    'qemu+tcp://example.com:0/system',
    "invalid connection URI 'qemu+tcp://example.com:0/system': port 0 is out of range (1-65535)",
  ],
  [
    'port without host',
    'qemu://:16514/system',
    "invalid connection URI 'qemu://:16514/system': port given without a host",
  ],
  [
    'user without host',
    'qemu+ssh://root@/system',
    "invalid connection URI 'qemu+ssh://root@/system': user name given without a host",
  ],
  [
    'missing slash',
    'qemu://system',
    "invalid connection URI 'qemu://system': 'system' is read as a host name here (maybe you want qemu:///system)",
  ],
  [
    'missing slash, embed',
    'qemu://embed?root=/x',
    "invalid connection URI 'qemu://embed?root=/x': 'embed' is read as a host name here (maybe you want qemu:///embed?root=/x)",
  ],
  [
    'fragment',
    'qemu:///system#top',
    "invalid connection URI 'qemu:///system#top': fragment '#top' is not supported",
  ],
  [
    'no path',
    'qemu://example.com',
    "invalid connection URI 'qemu://example.com': no instance path (expected /system, /session or /embed)",
  ],
  [
    'unknown path',
    'qemu:///default',
    "invalid connection URI 'qemu:///default': unknown instance path '/default' (expected /system, /session or /embed)",
  ],
  [
    'trailing slash',
    'qemu:///system/',
    "invalid connection URI 'qemu:///system/': unknown instance path '/system/' (expected /system, /session or /embed)",
  ],
  [
    'bad percent-encoding',
    'qemu:///embed?root=/tmp/100%',
    "invalid connection URI 'qemu:///embed?root=/tmp/100%': bad percent-encoding in parameter 'root'",
  ],
  [
    'percent-encoding not UTF-8',
    'qemu+unix:///system?socket=/run/%FF',
    "invalid connection URI 'qemu+unix:///system?socket=/run/%FF': bad percent-encoding in parameter 'socket' (not UTF-8)",
  ],
  [
    'parameter without a name',
    'qemu:///system?=1',
    "invalid connection URI 'qemu:///system?=1': query parameter without a name ('=1')",
  ],
  [
    'unknown parameter',
    'qemu:///system?foo=bar',
    "invalid connection URI 'qemu:///system?foo=bar': unknown parameter 'foo'",
  ],
  [
    'misspelt parameter',
    'qemu://example.com/system?no_verfy=1',
    "invalid connection URI 'qemu://example.com/system?no_verfy=1': unknown parameter 'no_verfy' (did you mean 'no_verify'?)",
  ],
  [
    'repeated parameter',
    'qemu+unix:///system?socket=/a&socket=/b',
    "invalid connection URI 'qemu+unix:///system?socket=/a&socket=/b': parameter 'socket' is given more than once",
  ],
  [
    'empty value',
    'qemu+unix:///system?socket=',
    "invalid connection URI 'qemu+unix:///system?socket=': parameter 'socket' needs a value",
  ],
  [
    'bad no_verify',
    'qemu://example.com/system?no_verify=yes',
    "invalid connection URI 'qemu://example.com/system?no_verify=yes': parameter 'no_verify' must be 0 or 1, got 'yes'",
  ],
  [
    'bad no_tty',
    'qemu+ssh://example.com/system?no_tty=2',
    "invalid connection URI 'qemu+ssh://example.com/system?no_tty=2': parameter 'no_tty' must be 0 or 1, got '2'",
  ],
  [
    'bad mode',
    'qemu:///system?mode=modular',
    "invalid connection URI 'qemu:///system?mode=modular': parameter 'mode' must be auto, legacy or direct, got 'modular'",
  ],
  [
    'bad proxy',
    'qemu+ssh://example.com/system?proxy=socat',
    "invalid connection URI 'qemu+ssh://example.com/system?proxy=socat': parameter 'proxy' must be auto, netcat or native, got 'socat'",
  ],
  [
    'bad known_hosts_verify',
    'qemu+libssh://example.com/system?known_hosts_verify=strict',
    "invalid connection URI 'qemu+libssh://example.com/system?known_hosts_verify=strict': parameter 'known_hosts_verify' must be normal, auto or ignore, got 'strict'",
  ],
  [
    'bad sshauth',
    'qemu+libssh2://example.com/system?sshauth=agent,gssapi',
    "invalid connection URI 'qemu+libssh2://example.com/system?sshauth=agent,gssapi': parameter 'sshauth' has an unknown method 'gssapi' (expected agent, privkey, password or keyboard-interactive)",
  ],
  [
    'embed without root',
    'qemu:///embed',
    "invalid connection URI 'qemu:///embed': qemu:///embed needs the 'root' parameter (as in qemu:///embed?root=/abs/dir)",
  ],
  [
    'relative embed root',
    'qemu:///embed?root=rel/dir',
    "invalid connection URI 'qemu:///embed?root=rel/dir': the embed root must be an absolute path, got 'rel/dir'",
  ],
  [
    'embed with transport',
    'qemu+unix:///embed?root=/abs',
    "invalid connection URI 'qemu+unix:///embed?root=/abs': qemu:///embed cannot be used with a transport ('+unix')",
  ],
  [
    'embed with host',
    'qemu://example.com/embed?root=/abs',
    "invalid connection URI 'qemu://example.com/embed?root=/abs': qemu:///embed cannot be used with a host ('example.com')",
  ],
  [
    'embed with a remote parameter',
    'qemu:///embed?root=/abs&socket=/s',
    "invalid connection URI 'qemu:///embed?root=/abs&socket=/s': parameter 'socket' does not apply to qemu:///embed",
  ],
  [
    'root outside embed',
    'qemu:///system?root=/abs',
    "invalid connection URI 'qemu:///system?root=/abs': parameter 'root' only applies to qemu:///embed",
  ],
  [
    'unix with host',
    'qemu+unix://example.com/system',
    "invalid connection URI 'qemu+unix://example.com/system': transport 'unix' cannot be used with a host ('example.com'); use tls, tcp or ssh",
  ],
  [
    'tcp without host',
    'qemu+tcp:///system',
    "invalid connection URI 'qemu+tcp:///system': transport 'tcp' needs a host (as in qemu+tcp://HOST/system)",
  ],
  [
    'tls without host',
    'qemu+tls:///session',
    "invalid connection URI 'qemu+tls:///session': transport 'tls' needs a host (as in qemu+tls://HOST/session)",
  ],
  [
    'ssh without host',
    'qemu+ssh:///system',
    "invalid connection URI 'qemu+ssh:///system': transport 'ssh' needs a host (as in qemu+ssh://HOST/system)",
  ],
  [
    'ext without command',
    'qemu+ext:///system',
    "invalid connection URI 'qemu+ext:///system': transport 'ext' needs the 'command' parameter",
  ],
  [
    'netcat with native proxy',
    'qemu+ssh://example.com/system?proxy=native&netcat=/bin/nc',
    "invalid connection URI 'qemu+ssh://example.com/system?proxy=native&netcat=/bin/nc': parameter 'netcat' is not valid with proxy=native",
  ],
];

describe('parseConnectionUri rejects', () => {
  it.each(rejects)('%s', (_what, text, message) => {
    let caught: unknown;
    try {
      parseConnectionUri(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UriError);
    const err = caught as UriError;
    expect(err.message).toBe(message);
    expect(err.message).not.toContain('\n');
    expect(err.code).toBe('INVALID_ARG');
    expect(err.domain).toBe('uri');
  });

  it('names the component at fault in `where`', () => {
    const whereOf = (text: string) => {
      try {
        parseConnectionUri(text);
      } catch (err) {
        return (err as UriError).where;
      }
      return undefined;
    };
    expect(whereOf('qemu+foo:///system')).toBe('scheme');
    expect(whereOf('qemu://h:x/system')).toBe('port');
    expect(whereOf('qemu:///nope')).toBe('path');
    expect(whereOf('qemu:///system?mode=x')).toBe('query:mode');
    expect(whereOf('qemu:///embed?root=rel')).toBe('query:root');
  });

  it('rejects a value that is not a string', () => {
    expect(() => parseConnectionUri(42 as unknown as string)).toThrow(
      'connection URI must be a string, got number',
    );
  });
});

describe('parseConnectionUri with strict: false (what libvirt 9.0 accepts)', () => {
  const lax = (text: string) => parseConnectionUri(text, { strict: false });

  it('keeps unknown parameters for the far end and in remoteName', () => {
    const uri = lax('qemu+ssh://example.com/system?keyfile=/k&foo=b%20r&flag');
    expect(uri.params).toEqual({ keyfile: '/k' });
    expect(uri.extraParams).toEqual([
      { name: 'foo', value: 'b r' },
      { name: 'flag', value: '' },
    ]);
    expect(remoteName(uri)).toBe('qemu:///system?foo=b%20r&flag=');
    expect(formatConnectionUri(uri)).toBe('qemu+ssh://example.com/system?keyfile=/k&foo=b%20r&flag=');
  });

  it('connects tcp, tls and ssh without a host to localhost', () => {
    expect(lax('qemu+tcp:///system')).toMatchObject({
      host: undefined,
      effectiveTransport: 'tcp',
      effectivePort: 16509,
    });
    expect(lax('qemu+tls:///system')).toMatchObject({
      host: undefined,
      effectiveTransport: 'tls',
      effectivePort: 16514,
    });
    expect(lax('qemu+ssh:///system').effectivePort).toBe(22);
    expect(isLocal(lax('qemu+tcp:///system'))).toBe(false);
  });

  it('keeps the last of repeated remote parameters and the first root', () => {
    expect(lax('qemu+unix:///system?socket=/a&socket=/b').params.socket).toBe('/b');
    expect(lax('qemu:///embed?root=/a&root=/b').root).toBe('/a');
  });

  it('reads booleans as integers, non-zero meaning yes', () => {
    expect(lax('qemu://h/system?no_verify=2').params.no_verify).toBe(true);
    expect(lax('qemu://h/system?no_verify=-0').params.no_verify).toBe(false);
    expect(() => lax('qemu://h/system?no_verify=yes')).toThrow(
      "invalid connection URI 'qemu://h/system?no_verify=yes': parameter 'no_verify' must be an integer, got 'yes'",
    );
  });

  it('passes root outside embed through, ignores "=value", allows embed with remote parameters', () => {
    const uri = lax('qemu:///system?root=/abs&=x');
    expect(uri.root).toBeUndefined();
    expect(uri.extraParams).toEqual([{ name: 'root', value: '/abs' }]);
    expect(lax('qemu:///embed?root=/abs&socket=/s').params.socket).toBe('/s');
  });

  it('still rejects what libvirt rejects', () => {
    expect(() => lax('qemu:///embed?root=rel')).toThrow('the embed root must be an absolute path');
    expect(() => lax('qemu+unix://h/system')).toThrow("transport 'unix' cannot be used with a host");
    expect(() => lax('qemu:///system?mode=x')).toThrow("parameter 'mode' must be auto, legacy or direct");
  });
});

describe('remoteName', () => {
  it('strips transport, user, host, port and consumed parameters', () => {
    expect(
      remoteName(parseConnectionUri('qemu+ssh://root@example.com:2222/system?keyfile=/k&no_tty=1')),
    ).toBe('qemu:///system');
    expect(remoteName(parseConnectionUri('qemu://example.com/session'))).toBe('qemu:///session');
  });

  it('prefers the name parameter', () => {
    expect(remoteName(parseConnectionUri('qemu+tcp://example.com/system?name=qemu:///session'))).toBe(
      'qemu:///session',
    );
  });
});

describe('defaultUri', () => {
  it('uses qemu:///system for root and qemu:///session for anyone else', () => {
    expect(defaultUri({ uid: 0, env: {} })).toBe('qemu:///system');
    expect(defaultUri({ uid: 1000, env: {} })).toBe('qemu:///session');
  });

  it('prefers LIBVIRT_DEFAULT_URI, ignoring an empty one', () => {
    expect(resolveDefaultUri({ uid: 0, env: { LIBVIRT_DEFAULT_URI: 'qemu+ssh://h/system' } })).toEqual({
      uri: 'qemu+ssh://h/system',
      source: 'LIBVIRT_DEFAULT_URI',
    });
    expect(resolveDefaultUri({ uid: 1000, env: { LIBVIRT_DEFAULT_URI: '' } })).toEqual({
      uri: 'qemu:///session',
      source: 'unprivileged',
    });
  });

  it("puts virsh's VIRSH_DEFAULT_CONNECT_URI first and libvirt.conf uri_default after the environment", () => {
    const env = { VIRSH_DEFAULT_CONNECT_URI: 'qemu:///session', LIBVIRT_DEFAULT_URI: 'qemu:///system' };
    expect(resolveDefaultUri({ uid: 0, env }).source).toBe('VIRSH_DEFAULT_CONNECT_URI');
    expect(resolveDefaultUri({ uid: 0, env, virsh: false }).source).toBe('LIBVIRT_DEFAULT_URI');
    expect(resolveDefaultUri({ uid: 1000, env: {}, uriDefault: 'qemu://h/system' })).toEqual({
      uri: 'qemu://h/system',
      source: 'uri_default',
    });
  });
});

describe('isLocal and defaultPort', () => {
  it.each([
    ['qemu:///system', true],
    ['qemu+unix:///session', true],
    ['qemu+unix:///system?socket=/run/x', true],
    ['qemu:///embed?root=/abs', true],
    ['qemu://example.com/system', false],
    ['qemu+ssh://root@example.com/system', false],
    ['qemu+ext:///system?command=/bin/tunnel', false],
  ])('%s is local: %s', (text, local) => {
    expect(isLocal(text)).toBe(local);
    expect(isLocal(parseConnectionUri(text))).toBe(local);
  });

  it('knows the remote driver port defaults', () => {
    expect(defaultPort('tls')).toBe(16514);
    expect(defaultPort('tcp')).toBe(16509);
    expect(defaultPort('ssh')).toBe(22);
    expect(defaultPort('libssh2')).toBe(22);
    expect(defaultPort('unix')).toBeUndefined();
    expect(defaultPort('in-process')).toBeUndefined();
  });
});
