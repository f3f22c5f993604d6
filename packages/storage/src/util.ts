/** Small shared pieces: libvirt's size units, running the standard tools, path hygiene. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { VirError, virReportError } from '@qvirt/core';

/** virScaleInteger with a default of bytes: `K`/`KiB` are 1024, `KB` 1000, and so on. */
export function scaleSize(value: string, unit: string | undefined | null, what = 'capacity'): number {
  if (!/^\s*\d+\s*$/.test(value)) throw virReportError('XML_ERROR', 'storage', `malformed ${what} element`);
  const n = BigInt(value.trim());
  const u = (unit ?? '').trim();
  let scale = 1n;
  if (u !== '' && !/^b(ytes?)?$/i.test(u)) {
    const power = 'kmgtpe'.indexOf(u[0]!.toLowerCase()) + 1;
    const rest = u.slice(1);
    let base: bigint;
    if (power === 0) base = 0n;
    else if (rest === '' || /^ib$/i.test(rest)) base = 1024n;
    else if (/^b$/i.test(rest)) base = 1000n;
    else base = 0n;
    if (base === 0n) throw virReportError('INVALID_ARG', 'storage', `unknown suffix '${u}'`);
    scale = base ** BigInt(power);
  }
  const bytes = n * scale;
  if (bytes > 2n ** 64n - 1n) throw virReportError('OVERFLOW', 'storage', `value too large: ${value}${u}`);
  return Number(bytes);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool; never throws (callers word the error as libvirt does). */
export function run(cmd: string, args: string[], opts: { input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: 'C' } },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 127
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs a tool and throws libvirt's virCommandRun wording when it fails. */
export async function runOrThrow(
  cmd: string,
  args: string[],
  opts: { input?: string } = {},
): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const text = r.stderr.trim().split('\n').filter(Boolean).pop() ?? '';
    const line = [cmd, ...args].join(' ');
    throw virReportError(
      'INTERNAL_ERROR',
      'storage',
      r.code === 127 && !r.stderr
        ? `Cannot find '${cmd}' in path: No such file or directory`
        : `Child process (${line}) unexpected exit status ${r.code}${text ? `: ${text}` : ''}`,
    );
  }
  return r.stdout;
}

/** virFileSanitizePath: no doubled slashes, no trailing slash. */
export function sanitizePath(p: string): string {
  let s = p.replace(/\/{2,}/g, '/');
  if (s.length > 1 && s.endsWith('/')) s = s.slice(0, -1);
  return s;
}

/** True when `p` (already absolute) lies inside `dir` (no `..` escape). */
export function isInside(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

export function isVirError(e: unknown): e is VirError {
  return e instanceof VirError;
}

/** virBufferEscapeString: the five XML specials. */
export function escapeXml(value: string): string {
  return value.replace(
    /[&<>'"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&apos;', '"': '&quot;' })[c]!,
  );
}
