/**
 * A minimal executor of a LaunchSpec for the tests, the chain design.md describes (until
 * @qvirt/driver runs specs itself): `unshare --mount --propagation private sh -c SCRIPT`, where
 * the script builds the private /dev and ends in `exec setpriv … BINARY ARGS`.
 */
import type { LaunchSpec } from '@qvirt/core';

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function setprivArgs(spec: LaunchSpec): string[] {
  const a: string[] = [];
  if (spec.gid !== undefined) a.push(`--regid=${spec.gid}`);
  if (spec.uid !== undefined) a.push(`--reuid=${spec.uid}`);
  if (spec.groups !== undefined)
    a.push(spec.groups.length ? `--groups=${spec.groups.join(',')}` : '--clear-groups');
  if (spec.keepCaps !== undefined) {
    const caps = spec.keepCaps.length ? `-all,${spec.keepCaps.map((c) => `+${c}`).join(',')}` : '-all';
    a.push(`--inh-caps=${caps}`, `--bounding-set=${caps}`);
    if (spec.uid !== 0) a.push('--ambient-caps=-all');
  }
  if (spec.noNewPrivs) a.push('--no-new-privs');
  return a;
}

/** The argv that runs the spec. */
export function chainArgv(spec: LaunchSpec): string[] {
  const lines: string[] = ['set -e'];
  const exec = ['exec', 'setpriv', ...setprivArgs(spec), spec.binary, ...spec.args].map(q).join(' ');
  const dev = spec.privateDev;
  if (!dev) return ['sh', '-c', `${lines.join('\n')}\n${exec}`];
  const t = '/tmp/.qvirt-dev.$$';
  lines.push(`T=${t}`, 'mkdir -p $T', 'mount -t tmpfs -o mode=755,size=65536 tmpfs $T');
  for (const n of dev.nodes) {
    const p = `$T${q(n.path.slice('/dev'.length))}`;
    lines.push(
      `mkdir -p "$(dirname ${p})"`,
      `mknod -m ${n.mode.toString(8)} ${p} ${n.kind} ${n.major} ${n.minor}`,
      `chown ${n.uid}:${n.gid} ${p}`,
    );
  }
  for (const b of dev.binds) {
    const p = `$T${q(b.slice('/dev'.length))}`;
    lines.push(`mkdir -p ${p}`, `mount --bind ${q(b)} ${p}`);
  }
  lines.push('mount --move $T /dev', 'rmdir $T');
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `${lines.join('\n')}\n${exec}`];
}
