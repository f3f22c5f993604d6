/**
 * What the driver reads from the installed policy (libvirt's virSecuritySELinuxQEMUInitialize and
 * the selabel file-context handle):
 *
 * - `virtual_domain_context`: line 1 the KVM process context, line 2 (optional) the TCG one;
 * - `virtual_image_context`: line 1 the image context, line 2 the read-only content context;
 * - `files/file_contexts` (+ `.local`): default labels, for restoring a path nothing was
 *   remembered for (matchpathcon).
 *
 * They live in `/etc/selinux/SELINUXTYPE/contexts` (SELINUXTYPE from /etc/selinux/config). When a
 * file is absent the policy's usual values are used: svirt_t, svirt_tcg_t, svirt_image_t and
 * virt_content_t.
 */
import type { HostPort } from '@qvirt/core';
import { VirError } from '@qvirt/core';

export const DEFAULT_DOMAIN_CONTEXT = 'system_u:system_r:svirt_t:s0';
export const DEFAULT_TCG_CONTEXT = 'system_u:system_r:svirt_tcg_t:s0';
export const DEFAULT_IMAGE_CONTEXT = 'system_u:object_r:svirt_image_t:s0';
export const DEFAULT_CONTENT_CONTEXT = 'system_u:object_r:virt_content_t:s0';

export interface VirtContexts {
  /** Process context for KVM guests. */
  domain: string;
  /** Process context for TCG guests, when the policy has one. */
  tcg?: string;
  /** Image context (writable images, shared images without categories). */
  image: string;
  /** Content context (read-only images, kernels, backing layers). */
  content: string;
}

type PolicyHost = Pick<HostPort, 'readFile'>;

function isAbsent(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function readLines(host: PolicyHost, file: string, noun: string): Promise<string[] | undefined> {
  try {
    return (await host.readFile(file)).split('\n');
  } catch (err) {
    if (isAbsent(err)) return undefined;
    throw new VirError(
      'SYSTEM_ERROR',
      'security',
      `cannot read SELinux ${noun} file '${file}': ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** The policy's contexts folder: /etc/selinux/SELINUXTYPE/contexts (targeted when unset). */
export async function policyContextsDir(host: PolicyHost, configDir = '/etc/selinux'): Promise<string> {
  let type = 'targeted';
  try {
    const m = /^\s*SELINUXTYPE\s*=\s*(\S+)/m.exec(await host.readFile(`${configDir}/config`));
    if (m) type = m[1]!;
  } catch {
    // no config: the usual policy
  }
  return `${configDir}/${type}/contexts`;
}

/** virtual_domain_context and virtual_image_context of `dir`, with the usual values when absent. */
export async function loadVirtContexts(host: PolicyHost, dir: string): Promise<VirtContexts> {
  const domain = await readLines(host, `${dir}/virtual_domain_context`, 'virtual domain context');
  const image = await readLines(host, `${dir}/virtual_image_context`, 'virtual image context');
  const out: VirtContexts = {
    domain: domain?.[0] || DEFAULT_DOMAIN_CONTEXT,
    image: image?.[0] || DEFAULT_IMAGE_CONTEXT,
    content: image?.[1] || DEFAULT_CONTENT_CONTEXT,
  };
  if (domain === undefined) out.tcg = DEFAULT_TCG_CONTEXT;
  else if (domain[1]) out.tcg = domain[1];
  return out;
}

// ---------------------------------------------------------------------------------------------
// file_contexts: the default label of a path

/** File-type flags of file_contexts and the st_mode type bits they match. */
const FILE_TYPES: Record<string, number> = {
  '--': 0o100000,
  '-d': 0o040000,
  '-c': 0o020000,
  '-b': 0o060000,
  '-s': 0o140000,
  '-l': 0o120000,
  '-p': 0o010000,
};

interface FileContextSpec {
  regex: RegExp;
  mode?: number;
  /** undefined for `<<none>>`. */
  context: string | undefined;
}

export type FileContextLookup = (path: string, mode: number) => Promise<string | undefined>;

function parseFileContexts(text: string): FileContextSpec[] {
  const out: FileContextSpec[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    if (f.length < 2) continue;
    const [re, a, b] = f as [string, string, string | undefined];
    const mode = b !== undefined ? FILE_TYPES[a] : undefined;
    const context = b !== undefined ? b : a;
    try {
      const spec: FileContextSpec = {
        regex: new RegExp(`^(?:${re})$`),
        context: context === '<<none>>' ? undefined : context,
      };
      if (mode !== undefined) spec.mode = mode;
      out.push(spec);
    } catch {
      // a pattern JavaScript cannot read: skip it as setfiles skips invalid specs
    }
  }
  return out;
}

/**
 * selabel_lookup over `files/file_contexts` and `files/file_contexts.local` of `dir`: the last
 * matching specification wins, as in the policy's sorted file. Undefined when nothing matches.
 */
export function fileContextLookup(host: PolicyHost, dir: string): FileContextLookup {
  let specs: Promise<FileContextSpec[]> | undefined;
  const load = async () => {
    const out: FileContextSpec[] = [];
    for (const f of ['file_contexts', 'file_contexts.local']) {
      try {
        out.push(...parseFileContexts(await host.readFile(`${dir}/files/${f}`)));
      } catch {
        // absent: no defaults from it
      }
    }
    return out;
  };
  return async (path, mode) => {
    specs ??= load();
    const list = await specs;
    for (let i = list.length - 1; i >= 0; i--) {
      const s = list[i]!;
      if (s.mode !== undefined && (mode & 0o170000) !== s.mode) continue;
      if (s.regex.test(path)) return s.context;
    }
    return undefined;
  };
}
