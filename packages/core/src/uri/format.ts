/** Formats connection URIs: the inverse of parseConnectionUri, plus the name the remote end is given. */
import { parseConnectionUri } from './parse.js';
import type { ConnectionUri, ConnectionUriParts } from './types.js';
import { URI_PARAM_NAMES } from './types.js';

const encoder = new TextEncoder();

function percentEncode(text: string, safe: RegExp): string {
  let out = '';
  for (const ch of text) {
    if (safe.test(ch)) {
      out += ch;
    } else {
      for (const byte of encoder.encode(ch)) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

/** Unreserved and sub-delims minus the query separators: keeps paths and `NORMAL:-VERS-SSL3.0` readable. */
const QUERY_SAFE = /^[A-Za-z0-9\-._~!$'()*,/:@]$/;
const USER_SAFE = /^[A-Za-z0-9\-._~!$&'()*+,;=]$/;
const HOST_SAFE = USER_SAFE;
/** What glib's g_uri_escape_string leaves alone with no reserved characters allowed. */
const GLIB_SAFE = /^[A-Za-z0-9\-._~]$/;

function formatHost(host: string): string {
  if (!host.includes(':')) return percentEncode(host, HOST_SAFE);
  return `[${host.replace('%', '%25')}]`;
}

function queryPairs(uri: ConnectionUriParts): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  if (uri.root !== undefined) pairs.push(['root', uri.root]);
  const params = uri.params ?? {};
  for (const name of URI_PARAM_NAMES) {
    const value = params[name];
    if (value === undefined) continue;
    if (typeof value === 'boolean') pairs.push([name, value ? '1' : '0']);
    else if (Array.isArray(value)) pairs.push([name, value.join(',')]);
    else pairs.push([name, value]);
  }
  for (const extra of uri.extraParams ?? []) pairs.push([extra.name, extra.value]);
  return pairs;
}

/**
 * Formats a URI from its written parts (`effective*` fields are ignored). Parameters come out in a
 * fixed order: `root`, libvirt's parameters in doRemoteOpen's order, then `extraParams`. The result
 * is checked with the libvirt-compatible (non-strict) parser, so an impossible combination such as
 * `unix` with a host throws the same {@link UriError} that parsing it would.
 */
export function formatConnectionUri(uri: ConnectionUriParts): string {
  const scheme = `${uri.driver ?? 'qemu'}${uri.transport ? `+${uri.transport}` : ''}`;
  let authority = '';
  if (uri.user !== undefined) authority += `${percentEncode(uri.user, USER_SAFE)}@`;
  if (uri.host !== undefined) authority += formatHost(uri.host);
  if (uri.port !== undefined) authority += `:${uri.port}`;
  const query = queryPairs(uri)
    .map(([name, value]) => `${percentEncode(name, QUERY_SAFE)}=${percentEncode(value, QUERY_SAFE)}`)
    .join('&');
  const text = `${scheme}://${authority}/${uri.instance}${query === '' ? '' : `?${query}`}`;
  parseConnectionUri(text, { strict: false });
  return text;
}

/**
 * The name doRemoteOpen sends to the far end's `virConnectOpen`: the `name` parameter if given,
 * else the URI without transport, user, host, port and the parameters the remote driver consumed
 * (what is left are `extraParams`, and `root`).
 */
export function remoteName(uri: ConnectionUri): string {
  if (uri.params.name !== undefined) return uri.params.name;
  const pairs: Array<[string, string]> = [];
  if (uri.root !== undefined) pairs.push(['root', uri.root]);
  for (const extra of uri.extraParams) pairs.push([extra.name, extra.value]);
  const query = pairs.map(([name, value]) => `${name}=${percentEncode(value, GLIB_SAFE)}`).join('&');
  return `${uri.driver}:///${uri.instance}${query === '' ? '' : `?${query}`}`;
}
