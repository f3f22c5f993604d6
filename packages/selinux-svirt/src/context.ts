/**
 * SELinux security contexts as text, `user:role:type[:range]`: libselinux's context_new /
 * context_*_get / context_*_set / context_str, which is all libvirt uses of them. The range
 * (`s0`, `s0:c41,c264`, `s0-s0:c0.c1023`) keeps its own colons.
 */
import { VirError } from '@qvirt/core';

export interface SELinuxContext {
  user: string;
  role: string;
  type: string;
  /** MLS/MCS range; undefined when the context has none (a non-MLS policy). */
  range?: string;
}

/** context_new: undefined for a string that is not a context. */
export function parseContext(text: string): SELinuxContext | undefined {
  const parts = text.split(':');
  if (parts.length < 3 || parts.slice(0, 3).some((p) => p === '')) return undefined;
  const [user, role, type] = parts as [string, string, string];
  const out: SELinuxContext = { user, role, type };
  if (parts.length > 3) {
    const range = parts.slice(3).join(':');
    if (range === '') return undefined;
    out.range = range;
  }
  return out;
}

/** context_str */
export function formatContext(c: SELinuxContext): string {
  return c.range === undefined ? `${c.user}:${c.role}:${c.type}` : `${c.user}:${c.role}:${c.type}:${c.range}`;
}

/** context_range_get of a context string, undefined when it has no range or does not parse. */
export function contextRange(text: string): string | undefined {
  return parseContext(text)?.range;
}

/** The type of a context (a baselabel contributes only its type, as libvirt documents). */
export function contextType(text: string): string | undefined {
  return parseContext(text)?.type;
}

function mustParse(text: string, what: string): SELinuxContext {
  const c = parseContext(text);
  if (!c) {
    throw new VirError('SYSTEM_ERROR', 'security', `Unable to parse ${what} SELinux context '${text}'`);
  }
  return c;
}

/**
 * virSecuritySELinuxGenNewContext: `base` with the daemon's user (and, for a process context,
 * its role) and the given range.
 */
export function genNewContext(base: string, mcs: string, daemon: string, isObjectContext: boolean): string {
  const ours = mustParse(daemon, 'current');
  const ctx = mustParse(base, 'base');
  ctx.user = ours.user;
  if (!isObjectContext) ctx.role = ours.role;
  ctx.range = mcs;
  return formatContext(ctx);
}

/** virSecuritySELinuxContextAddRange: `dst` with the range of `src`. */
export function contextAddRange(src: string, dst: string): string {
  const s = mustParse(src, 'source');
  const d = mustParse(dst, 'destination');
  if (s.range === undefined) delete d.range;
  else d.range = s.range;
  return formatContext(d);
}
