/**
 * DAC labels: `USER:GROUP`, each a name or `+N` for a number (libvirt's virParseOwnershipIds,
 * virGetUserID, virGetGroupID in src/util/virutil.c). A name is looked up in the host's user
 * database first and, when absent, read as a number; `+N` is always a number.
 */
import type { HostPort } from '@qvirt/core';
import { virReportError } from '@qvirt/core';

export interface Ids {
  uid: number;
  gid: number;
}

type Lookup = Pick<HostPort, 'lookupUser' | 'lookupGroup'>;

const U32_MAX = 0xffffffff;

function parseNumber(text: string): number | undefined {
  // virStrToLong_ui: optional sign, decimal digits, must fit an unsigned int.
  if (!/^\s*\+?\d+$/.test(text)) return undefined;
  const n = Number(text.trim().replace('+', ''));
  return Number.isSafeInteger(n) && n <= U32_MAX ? n : undefined;
}

/** virGetUserID: a user name or `+uid`. */
export async function userId(host: Lookup, user: string): Promise<number> {
  let text = user;
  if (text.startsWith('+')) text = text.slice(1);
  else {
    const found = await host.lookupUser(text);
    if (found) return found.uid;
  }
  const n = parseNumber(text);
  if (n === undefined) throw virReportError('INVALID_ARG', 'security', `Failed to parse user '${text}'`);
  return n;
}

/** virGetGroupID: a group name or `+gid`. */
export async function groupId(host: Lookup, group: string): Promise<number> {
  let text = group;
  if (text.startsWith('+')) text = text.slice(1);
  else {
    const found = await host.lookupGroup(text);
    if (found) return found.gid;
  }
  const n = parseNumber(text);
  if (n === undefined) throw virReportError('INVALID_ARG', 'security', `Failed to parse group '${text}'`);
  return n;
}

/** virParseOwnershipIds: `USER:GROUP` to numeric ids. */
export async function parseOwnershipIds(host: Lookup, label: string): Promise<Ids> {
  const sep = label.indexOf(':');
  if (sep < 0) {
    throw virReportError('INVALID_ARG', 'security', `Failed to parse uid and gid from '${label}'`);
  }
  return {
    uid: await userId(host, label.slice(0, sep)),
    gid: await groupId(host, label.slice(sep + 1)),
  };
}

/** The label text libvirt writes for ids (`+107:+107`), in live XML and the remembered xattr. */
export function formatIds(ids: Ids): string {
  return `+${ids.uid}:+${ids.gid}`;
}

/** Parse a label that must already be numeric (`+N:+N`), without the user database. */
export function parseNumericIds(label: string): Ids | undefined {
  const m = /^\+?(\d+):\+?(\d+)$/.exec(label.trim());
  if (!m) return undefined;
  const uid = parseNumber(m[1]!);
  const gid = parseNumber(m[2]!);
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}
