/**
 * Parses libvirt connection URIs for the QEMU driver.
 *
 * Grammar (docs/uri.rst): `qemu[+transport]://[user@][host][:port]/(system|session|embed)[?params]`.
 * The checks mirror libvirt 9.0: remoteSplitURIScheme (src/remote/remote_sockets.c), doRemoteOpen
 * (src/remote/remote_driver.c), virConnectOpenInternal and virConnectCheckURIMissingSlash
 * (src/libvirt.c), virURIParse/virURIParseParams (src/util/viruri.c). Strict mode (the default)
 * additionally rejects what libvirt silently accepts; see {@link ParseConnectionUriOptions}.
 */
import { isIPv6 } from 'node:net';
import { UriError } from '../errors.js';
import {
  type ConnectionUri,
  type ConnectionUriParamName,
  type ConnectionUriParams,
  type EffectiveTransport,
  type ExtraUriParam,
  KNOWN_HOSTS_VERIFY,
  type KnownHostsVerify,
  type ParseConnectionUriOptions,
  REMOTE_MODES,
  REMOTE_PROXIES,
  type RemoteMode,
  type RemoteProxy,
  SSH_AUTH_METHODS,
  SSH_PORT,
  type SshAuthMethod,
  TCP_PORT,
  TLS_PORT,
  URI_INSTANCES,
  URI_PARAM_NAMES,
  URI_TRANSPORTS,
  type UriInstance,
  type UriTransport,
} from './types.js';

const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+.-]*$/;
/** RFC 3986 reg-name: unreserved, sub-delims and percent-encoded octets. */
const REG_NAME_RE = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/;
const ZONE_ID_RE = /^(?:[A-Za-z0-9\-._~]|%[0-9A-Fa-f]{2})+$/;
const BOOL_PARAMS: ReadonlySet<string> = new Set(['no_sanity', 'no_verify', 'no_tty']);
const NEEDS_HOST: ReadonlySet<UriTransport> = new Set(['tcp', 'tls', 'ssh', 'libssh', 'libssh2']);

/** The port libvirt's remote driver uses when the URI names none; undefined when no port is involved. */
export function defaultPort(transport: EffectiveTransport): number | undefined {
  switch (transport) {
    case 'tls':
      return TLS_PORT;
    case 'tcp':
      return TCP_PORT;
    case 'ssh':
    case 'libssh':
    case 'libssh2':
      return SSH_PORT;
    default:
      return undefined;
  }
}

/** Quotes text for a one-line message: control characters become `\xNN`. */
export function quoteUriText(text: string): string {
  return `'${text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
}

/** Hides a `user:password@` password so that it never reaches an error message or a log. */
function redactPassword(text: string): string {
  const m = /^([^:/?#]*:\/\/)([^/?#]*)/.exec(text);
  if (!m) return text;
  const authority = m[2]!;
  const at = authority.lastIndexOf('@');
  const colon = authority.indexOf(':');
  if (at < 0 || colon < 0 || colon > at) return text;
  return `${m[1]}${authority.slice(0, colon)}:***${authority.slice(at)}${text.slice(m[0].length)}`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

function suggestParam(name: string): string | undefined {
  let best: string | undefined;
  // Only close matches: one edit per three characters, at most two.
  let bestDistance = Math.min(2, Math.floor(name.length / 3)) + 1;
  for (const known of [...URI_PARAM_NAMES, 'root']) {
    const d = editDistance(name.toLowerCase(), known);
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Parses a connection URI such as `qemu:///system`, `qemu+ssh://root@example.com/system` or
 * `qemu:///embed?root=/abs/dir`. Throws {@link UriError} with a one-line message naming the problem;
 * its `where` is the URI component at fault (`scheme`, `user`, `host`, `port`, `path`, `fragment`,
 * `query`, or `query:<name>`).
 */
export function parseConnectionUri(text: string, options: ParseConnectionUriOptions = {}): ConnectionUri {
  const strict = options.strict ?? true;
  if (typeof text !== 'string') throw new UriError(`connection URI must be a string, got ${typeof text}`);
  if (text === '') throw new UriError('connection URI is empty');

  const shown = quoteUriText(redactPassword(text));
  const fail = (problem: string, where: string): never => {
    throw new UriError(`invalid connection URI ${shown}: ${problem}`, { where });
  };
  const decode = (raw: string, what: string, where: string): string => {
    if (/%(?![0-9A-Fa-f]{2})/.test(raw)) fail(`bad percent-encoding in ${what}`, where);
    try {
      return decodeURIComponent(raw);
    } catch {
      return fail(`bad percent-encoding in ${what} (not UTF-8)`, where);
    }
  };

  const ws = /[\s\x00-\x1f\x7f]/.exec(text);
  if (ws) fail(`whitespace or control character at offset ${ws.index}`, 'uri');

  // Scheme: driver[+transport]
  const colon = text.indexOf(':');
  const scheme = colon > 0 ? text.slice(0, colon) : '';
  if (!SCHEME_RE.test(scheme)) fail('no driver name (expected a URI like qemu:///system)', 'scheme');
  const plus = scheme.indexOf('+');
  const driver = plus < 0 ? scheme : scheme.slice(0, plus);
  if (driver !== 'qemu') fail(`unknown driver ${quoteUriText(driver)} (qvirt only provides qemu)`, 'scheme');
  let transport: UriTransport | undefined;
  if (plus >= 0) {
    const t = scheme.slice(plus + 1).toLowerCase();
    if (!(URI_TRANSPORTS as readonly string[]).includes(t)) {
      fail(
        `unknown transport ${quoteUriText(t)} (expected unix, tls, tcp, ssh, libssh, libssh2 or ext)`,
        'scheme',
      );
    }
    transport = t as UriTransport;
  }

  let rest = text.slice(colon + 1);
  if (!rest.startsWith('//')) fail(`expected '//' after '${scheme}:' (as in qemu:///system)`, 'scheme');
  rest = rest.slice(2);

  // Authority: [user@]host[:port]
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const afterAuthority = authorityEnd < 0 ? '' : rest.slice(authorityEnd);

  let user: string | undefined;
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    if (userinfo.includes(':')) fail('a password in the user part is not supported', 'user');
    if (userinfo === '') fail("empty user name before '@'", 'user');
    if (!REG_NAME_RE.test(userinfo)) fail(`invalid user name ${quoteUriText(userinfo)}`, 'user');
    user = decode(userinfo, 'the user name', 'user');
  }

  const hostport = authority.slice(at + 1);
  let host: string | undefined;
  let portText: string | undefined;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) fail(`unterminated IPv6 address ${quoteUriText(hostport)}`, 'host');
    const literal = hostport.slice(1, close);
    const tail = hostport.slice(close + 1);
    if (tail !== '' && !tail.startsWith(':')) fail(`invalid host ${quoteUriText(hostport)}`, 'host');
    if (tail !== '') portText = tail.slice(1);
    const zoneAt = literal.indexOf('%25');
    const address = zoneAt < 0 ? literal : literal.slice(0, zoneAt);
    const zone = zoneAt < 0 ? undefined : literal.slice(zoneAt + 3);
    if (!isIPv6(address) || (zone !== undefined && !ZONE_ID_RE.test(zone))) {
      fail(`invalid IPv6 address ${quoteUriText(`[${literal}]`)}`, 'host');
    }
    host = zone === undefined ? address : `${address}%${decode(zone, 'the IPv6 zone', 'host')}`;
  } else {
    const portColon = hostport.indexOf(':');
    const hostText = portColon < 0 ? hostport : hostport.slice(0, portColon);
    if (portColon >= 0) portText = hostport.slice(portColon + 1);
    if (!REG_NAME_RE.test(hostText)) fail(`invalid host ${quoteUriText(hostText)}`, 'host');
    const decoded = decode(hostText, 'the host', 'host');
    if (/[:/?#@[\]]/.test(decoded)) fail(`invalid host ${quoteUriText(decoded)}`, 'host');
    if (decoded !== '') host = decoded;
  }

  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^[0-9]+$/.test(portText)) fail(`port ${quoteUriText(portText)} is not a number`, 'port');
    port = Number(portText);
    if (port < 1 || port > 65535) fail(`port ${portText} is out of range (1-65535)`, 'port');
  }
  if (host === undefined && user !== undefined) fail('user name given without a host', 'user');
  if (host === undefined && port !== undefined) fail('port given without a host', 'port');

  // Path, query, fragment
  const hash = afterAuthority.indexOf('#');
  if (hash >= 0) fail(`fragment ${quoteUriText(afterAuthority.slice(hash))} is not supported`, 'fragment');
  const question = afterAuthority.indexOf('?');
  const pathRaw = question < 0 ? afterAuthority : afterAuthority.slice(0, question);
  const queryRaw = question < 0 ? undefined : afterAuthority.slice(question + 1);

  // virConnectCheckURIMissingSlash: qemu://system is a host named "system", not the system instance.
  if (host !== undefined && (URI_INSTANCES as readonly string[]).includes(host)) {
    const query = queryRaw === undefined ? '' : `?${queryRaw}`;
    fail(`'${host}' is read as a host name here (maybe you want ${scheme}:///${host}${query})`, 'host');
  }

  const path = decode(pathRaw, 'the path', 'path');
  if (path === '') fail('no instance path (expected /system, /session or /embed)', 'path');
  const instanceName = path.slice(1);
  if (!path.startsWith('/') || !(URI_INSTANCES as readonly string[]).includes(instanceName)) {
    fail(`unknown instance path ${quoteUriText(path)} (expected /system, /session or /embed)`, 'path');
  }
  const instance = instanceName as UriInstance;

  // Query parameters
  const params: ConnectionUriParams = {};
  const extraParams: ExtraUriParam[] = [];
  const given: string[] = [];
  let root: string | undefined;

  for (const [rawName, rawValue] of splitQuery(queryRaw ?? '')) {
    if (rawName === '') {
      // "=value": libvirt ignores it, consistent with CGI.pm.
      if (strict) fail(`query parameter without a name ('=${rawValue}')`, 'query');
      continue;
    }
    const name = decode(rawName, 'a parameter name', 'query');
    const where = `query:${name}`;
    const value = decode(rawValue ?? '', `parameter ${quoteUriText(name)}`, where);
    const lower = name.toLowerCase();
    const known = (URI_PARAM_NAMES as readonly string[]).includes(lower)
      ? (lower as ConnectionUriParamName)
      : undefined;
    // virURIGetParam looks `root` up case-sensitively; the remote driver's names are case-insensitive.
    const canonical = known ?? (name === 'root' ? 'root' : undefined);

    if (canonical === undefined || (canonical === 'root' && instance !== 'embed' && !strict)) {
      if (strict) {
        const hint = suggestParam(name);
        fail(`unknown parameter ${quoteUriText(name)}${hint ? ` (did you mean '${hint}'?)` : ''}`, where);
      }
      extraParams.push({ name, value });
      continue;
    }
    if (given.includes(canonical)) {
      if (strict) fail(`parameter '${canonical}' is given more than once`, where);
      // libvirt: the remote driver keeps the last value, virURIGetParam("root") the first.
      if (canonical === 'root') continue;
    } else {
      given.push(canonical);
    }
    if (value === '' && (strict || BOOL_PARAMS.has(canonical))) {
      fail(`parameter '${canonical}' needs a value`, where);
    }

    if (canonical === 'root') {
      root = value;
    } else {
      setParam(params, canonical as ConnectionUriParamName, value, strict, (problem) => fail(problem, where));
    }
  }

  // Semantics
  let effectiveTransport: EffectiveTransport;
  if (instance === 'embed') {
    if (transport !== undefined)
      fail(`qemu:///embed cannot be used with a transport ('+${transport}')`, 'scheme');
    if (host !== undefined) fail(`qemu:///embed cannot be used with a host (${quoteUriText(host)})`, 'host');
    if (root === undefined)
      fail("qemu:///embed needs the 'root' parameter (as in qemu:///embed?root=/abs/dir)", 'query:root');
    if (!root!.startsWith('/'))
      fail(`the embed root must be an absolute path, got ${quoteUriText(root!)}`, 'query:root');
    const remoteParam = given.find((n) => n !== 'root');
    if (strict && remoteParam !== undefined) {
      fail(`parameter '${remoteParam}' does not apply to qemu:///embed`, `query:${remoteParam}`);
    }
    effectiveTransport = 'in-process';
  } else {
    if (root !== undefined) fail("parameter 'root' only applies to qemu:///embed", 'query:root');
    if (transport === 'unix' && host !== undefined) {
      fail(
        `transport 'unix' cannot be used with a host (${quoteUriText(host)}); use tls, tcp or ssh`,
        'host',
      );
    }
    if (strict && transport !== undefined && NEEDS_HOST.has(transport) && host === undefined) {
      fail(`transport '${transport}' needs a host (as in qemu+${transport}://HOST/${instance})`, 'host');
    }
    if (transport === 'ext' && params.command === undefined) {
      fail("transport 'ext' needs the 'command' parameter", 'query:command');
    }
    if (params.netcat !== undefined && params.proxy === 'native') {
      fail("parameter 'netcat' is not valid with proxy=native", 'query:netcat');
    }
    effectiveTransport = transport ?? (host === undefined ? 'unix' : 'tls');
  }

  return {
    driver: 'qemu',
    transport,
    effectiveTransport,
    user,
    host,
    port,
    effectivePort: port ?? defaultPort(effectiveTransport),
    instance,
    root,
    params,
    extraParams,
  };
}

/**
 * Splits a raw query the way virURIParseParams does: sections end at the next '&' or, only when
 * there is no '&' left, at the next ';'. Empty sections are skipped; "name" alone has value "".
 */
function splitQuery(query: string): Array<[string, string | undefined]> {
  const out: Array<[string, string | undefined]> = [];
  let rest = query;
  while (rest !== '') {
    let end = rest.indexOf('&');
    if (end < 0) end = rest.indexOf(';');
    if (end < 0) end = rest.length;
    const section = rest.slice(0, end);
    if (section !== '') {
      const eq = section.indexOf('=');
      out.push(eq < 0 ? [section, undefined] : [section.slice(0, eq), section.slice(eq + 1)]);
    }
    rest = rest.slice(end + 1);
  }
  return out;
}

function setParam(
  params: ConnectionUriParams,
  name: ConnectionUriParamName,
  value: string,
  strict: boolean,
  fail: (problem: string) => never,
): void {
  switch (name) {
    case 'no_sanity':
    case 'no_verify':
    case 'no_tty':
      // doRemoteOpen reads these with virStrToLong_i: any integer, non-zero meaning "yes".
      if (strict ? !/^[01]$/.test(value) : !/^[+-]?[0-9]+$/.test(value)) {
        fail(`parameter '${name}' must be ${strict ? '0 or 1' : 'an integer'}, got ${quoteUriText(value)}`);
      }
      params[name] = Number(value) !== 0;
      return;
    case 'mode':
      if (!(REMOTE_MODES as readonly string[]).includes(value)) {
        fail(`parameter 'mode' must be auto, legacy or direct, got ${quoteUriText(value)}`);
      }
      params.mode = value as RemoteMode;
      return;
    case 'proxy':
      if (!(REMOTE_PROXIES as readonly string[]).includes(value)) {
        fail(`parameter 'proxy' must be auto, netcat or native, got ${quoteUriText(value)}`);
      }
      params.proxy = value as RemoteProxy;
      return;
    case 'known_hosts_verify': {
      const v = value.toLowerCase();
      if (!(KNOWN_HOSTS_VERIFY as readonly string[]).includes(v)) {
        fail(`parameter 'known_hosts_verify' must be normal, auto or ignore, got ${quoteUriText(value)}`);
      }
      params.known_hosts_verify = v as KnownHostsVerify;
      return;
    }
    case 'sshauth': {
      const methods = value.split(',').map((m) => m.toLowerCase());
      const bad = methods.find((m) => !(SSH_AUTH_METHODS as readonly string[]).includes(m));
      if (bad !== undefined) {
        fail(
          `parameter 'sshauth' has an unknown method ${quoteUriText(bad)} (expected agent, privkey, password or keyboard-interactive)`,
        );
      }
      params.sshauth = methods as SshAuthMethod[];
      return;
    }
    default:
      params[name] = value;
  }
}
