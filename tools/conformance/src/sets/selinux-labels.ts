/**
 * `selinux-labels`: libvirt's securityselinuxlabeltest over DIR/selinux-labels. For each case of
 * the manifest, NAME.xml is labelled by @qvirt/selinux-svirt's "set all labels" in a scratch
 * folder and every `PATH;CONTEXT` line of NAME.txt is checked against the file's label:
 *
 * - the scratch folder holds every listed path as an empty 0600 file, plus `nfs/`;
 * - disk (file/block), serial (file/pipe/dev/unix) and kernel/initrd paths get its prefix;
 * - the driver reads helperdata/virtual_{domain,image}_context and runs privileged, with
 *   SELinux faked as enabled and enforcing (this kernel has none) and `virt_use_nfs` off;
 * - labels are real `security.selinux` xattrs on the scratch files, except below `nfs/`, where
 *   reading or writing a label fails with EOPNOTSUPP and the file system reports as NFS, as in
 *   libvirt's LD_PRELOAD helper.
 *
 * An empty CONTEXT means the file carries no label; `EOPNOTSUPP` that reading it fails so.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type DomainDef,
  defaultQemuConf,
  errorLine,
  type HostPort,
  nodeHost,
  parseDomainXML,
} from '@qvirt/core';
import selinux, { fakeSELinux, SELINUX_XATTR } from '@qvirt/selinux-svirt';
import type { CaseResult, ConformanceSet } from '../set.js';
import { readJson, readText, setDir } from './corpus.js';

interface ManifestCase {
  name: string;
  xml: string;
  expected: string;
}

interface Manifest {
  cases: ManifestCase[];
}

/** `PATH;CONTEXT` lines. */
function parseExpected(text: string): Array<{ path: string; context: string }> {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const i = l.indexOf(';');
      return i < 0 ? { path: l, context: '' } : { path: l.slice(0, i), context: l.slice(i + 1) };
    });
}

/** Prefix the paths the test rewrites (testSELinuxMungePath). */
function mungePaths(def: DomainDef, dir: string): void {
  const munge = (p: string | undefined) => (p ? `${dir}${p}` : p);
  for (const disk of def.devices?.disk ?? []) {
    if (!disk.source) continue;
    if ((disk.type ?? 'file') === 'file' && disk.source.file) disk.source.file = munge(disk.source.file);
    if (disk.type === 'block' && disk.source.dev) disk.source.dev = munge(disk.source.dev);
  }
  for (const serial of def.devices?.serial ?? []) {
    if (!['file', 'pipe', 'dev', 'unix'].includes(serial.type ?? '')) continue;
    for (const s of serial.source ?? []) if (s.path) s.path = munge(s.path);
  }
  if (def.os?.kernel) def.os.kernel = munge(def.os.kernel);
  if (def.os?.initrd) def.os.initrd = munge(def.os.initrd);
}

function eopnotsupp(syscall: string, p: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`EOPNOTSUPP: ${syscall} '${p}'`), { code: 'EOPNOTSUPP', syscall, path: p });
}

/** The real host, except that labels below `nfsDir` are unsupported. */
function fakeNfsHost(inner: HostPort, nfsDir: string): HostPort {
  const onNfs = (p: string) => p === nfsDir || p.startsWith(`${nfsDir}/`);
  return {
    ...inner,
    getxattr: async (p, name) => {
      if (onNfs(p)) throw eopnotsupp('getxattr', p);
      return inner.getxattr(p, name);
    },
    setxattr: async (p, name, value) => {
      if (onNfs(p)) throw eopnotsupp('setxattr', p);
      return inner.setxattr(p, name, value);
    },
    removexattr: async (p, name) => {
      if (onNfs(p)) throw eopnotsupp('removexattr', p);
      return inner.removexattr(p, name);
    },
  };
}

async function runCase(dir: string, c: ManifestCase): Promise<CaseResult> {
  let expected: Array<{ path: string; context: string }>;
  let def: DomainDef;
  try {
    expected = parseExpected(readText(path.join(dir, c.expected)));
    def = parseDomainXML(readText(path.join(dir, c.xml)));
  } catch (err) {
    return { name: c.name, pass: false, reason: `cannot read case: ${errorLine(err)}`, family: 'manifest' };
  }
  const scratch = await mkdtemp(path.join(tmpdir(), 'qvirt-selinux-labels-'));
  try {
    await mkdir(path.join(scratch, 'nfs'));
    for (const e of expected) {
      const file = path.join(scratch, e.path);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, '');
      await chmod(file, 0o600);
    }
    mungePaths(def, scratch);
    const nfsDir = path.join(scratch, 'nfs');
    const host = fakeNfsHost(nodeHost(), nfsDir);
    const driver = selinux(
      {
        virtDriver: 'QEMU',
        conf: defaultQemuConf({ privileged: true }),
        privileged: true,
        user: 0,
        group: 0,
        defaultConfined: true,
        requireConfined: false,
        dynamicOwnership: true,
        mountNamespace: false,
        dirs: { config: scratch, run: scratch, lib: scratch, cache: scratch, log: scratch },
        kernel: fakeSELinux({
          enabled: true,
          enforcing: true,
          currentContext: 'system_r:system_u:libvirtd_t:s0:c0.c1023',
          booleans: { virt_use_nfs: false },
        }),
        contextsDir: path.join(dir, 'helperdata'),
        fileContexts: async () => undefined,
        rememberOwner: false,
        fsType: async (p) => (p === nfsDir || p.startsWith(`${nfsDir}/`) ? 'nfs' : 'ext4'),
        onInfo: () => {},
        onWarn: () => {},
      },
      host,
    );
    try {
      await driver.domainSetSecurityAllLabel!(def, {});
    } catch (err) {
      return { name: c.name, pass: false, reason: `set all labels: ${errorLine(err)}`, family: 'label' };
    }
    for (const e of expected) {
      const file = path.join(scratch, e.path);
      let got: string | undefined;
      let code: string | undefined;
      try {
        got = await host.getxattr(file, SELINUX_XATTR);
      } catch (err) {
        code = (err as NodeJS.ErrnoException).code ?? errorLine(err);
      }
      const want = e.context;
      const show = code ?? (got === undefined ? '(no label)' : got);
      const ok = want === 'EOPNOTSUPP' ? code === 'EOPNOTSUPP' : code === undefined && (got ?? '') === want;
      if (!ok) {
        return {
          name: c.name,
          pass: false,
          reason: `${e.path}: got ${show}, want ${want === '' ? '(no label)' : want}`,
          family: 'label',
        };
      }
    }
    return { name: c.name, pass: true };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export const selinuxLabelsSet: ConformanceSet = {
  name: 'selinux-labels',
  applies: (root) => existsSync(path.join(setDir(root, 'selinux-labels'), 'manifest.json')),
  run: async (root) => {
    const dir = setDir(root, 'selinux-labels');
    const manifest = readJson<Manifest>(path.join(dir, 'manifest.json'));
    const out: CaseResult[] = [];
    for (const c of manifest.cases) {
      try {
        out.push(await runCase(dir, c));
      } catch (err) {
        out.push({ name: c.name, pass: false, reason: `cannot run: ${errorLine(err)}`, family: 'manifest' });
      }
    }
    return out;
  },
};
