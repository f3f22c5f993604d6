/**
 * The `selinux` security driver: libvirt 9.0's src/security/security_selinux.c (sVirt) as a qvirt
 * plugin. Each guest runs in the policy's virtual domain type with a category pair of its own
 * (mcs.ts), everything it opens is labelled with the image type and the same pair (filecon.ts),
 * and QEMU is exec'd under its label through the launch spec (`setpriv --selinux-label`).
 *
 * The kernel side (enabled, enforcing, booleans, process contexts) is one injectable object
 * (kernel.ts); file labels are real `security.selinux` xattrs through the host port.
 */
import type {
  DomainDef,
  HostdevDef,
  HostdevNode,
  HostPort,
  InputDef,
  LaunchSpec,
  MemoryDeviceDef,
  SeclabelDef,
  SecurityChardev,
  SecurityDriver,
  SecurityDriverOptions,
  SecurityImageLabelFlags,
  SecurityImageSource,
  SecurityRestoreAllOptions,
  SecuritySetAllOptions,
} from '@qvirt/core';
import {
  chardevSecurityPaths,
  domainSeclabelFor,
  domainSecurityPaths,
  hostdevNodes,
  inputPath,
  memoryPaths,
  type RememberStoreOptions,
  rememberStore,
  VirError,
  virReportError,
  virReportSystemError,
} from '@qvirt/core';
import { contextAddRange, contextRange, genNewContext, parseContext } from './context.js';
import { deviceRelabel, MODEL, ownLabel, SHARED_FS } from './devices.js';
import { type FileconResult, type FsTypeOf, filecon, mountInfoFsType } from './filecon.js';
import { hostSELinux, type SELinuxKernel } from './kernel.js';
import { mcsPool, processRange, type RandomInt } from './mcs.js';
import {
  type FileContextLookup,
  fileContextLookup,
  loadVirtContexts,
  policyContextsDir,
  type VirtContexts,
} from './policy.js';

export const DRIVER_NAME = 'selinux';

export interface SELinuxOptions extends SecurityDriverOptions, Pick<RememberStoreOptions, 'rememberOwner'> {
  /** The kernel's SELinux (probe, enforcing, booleans, process contexts); default: this host's. */
  kernel?: SELinuxKernel;
  /**
   * The folder holding `virtual_domain_context` and `virtual_image_context` (and `files/`);
   * default the policy's, `/etc/selinux/SELINUXTYPE/contexts`.
   */
  contextsDir?: string;
  /** Where `config` names the policy (default `/etc/selinux`). */
  selinuxConfigDir?: string;
  /** Default labels for restore when nothing was remembered; default the policy's file_contexts. */
  fileContexts?: FileContextLookup;
  /** The file system type of a path (NFS detection); default /proc/self/mountinfo. */
  fsType?: FsTypeOf;
  /** virRandomInt for MCS allocation (tests make it deterministic). */
  random?: RandomInt;
  /** Informational messages (libvirt's VIR_INFO); default dropped. */
  onInfo?: (message: string) => void;
  /** Warnings (libvirt's VIR_WARN); default console.warn. */
  onWarn?: (message: string) => void;
}

const internal = (message: string) => virReportError('INTERNAL_ERROR', 'security', message);

/** relabel as libvirt's parser defaults it: yes for dynamic, no for static and none. */
export function relabelOf(sec: SeclabelDef): boolean {
  if (sec.relabel !== undefined) return sec.relabel === 'yes';
  return (sec.type ?? 'dynamic') === 'dynamic';
}

const mismatch = (model: string | undefined) =>
  internal(
    `security label driver mismatch: '${model}' model configured for domain, but hypervisor driver is '${MODEL}'.`,
  );

interface Done {
  path: string;
  remember: boolean;
}

export default function selinux(options: SELinuxOptions, host: HostPort): SecurityDriver {
  const kernel = options.kernel ?? hostSELinux(host);
  const store = rememberStore(MODEL, host, options);
  const remember = store.enabled;
  const info = options.onInfo ?? (() => {});
  const warn = options.onWarn ?? ((m: string) => console.warn(m));
  const pool = mcsPool(options.random);

  let loaded: Promise<{ contexts: VirtContexts; lookup: FileContextLookup }> | undefined;
  /** virSecuritySELinuxQEMUInitialize, on first use (the factory is synchronous). */
  function policy() {
    loaded ??= (async () => {
      const dir = options.contextsDir ?? (await policyContextsDir(host, options.selinuxConfigDir));
      const contexts = await loadVirtContexts(host, dir);
      return { contexts, lookup: options.fileContexts ?? fileContextLookup(host, dir) };
    })();
    loaded.catch(() => {
      loaded = undefined;
    });
    return loaded;
  }
  const contexts = async () => (await policy()).contexts;

  const files = filecon({
    host,
    kernel,
    store,
    privileged: options.privileged,
    fsType: options.fsType ?? mountInfoFsType(host),
    defaultContext: async (path, mode) => (await policy()).lookup(path, mode),
    info,
    warn,
  });

  // One relabel at a time: the xattr refcounts must not interleave between two guests.
  let queue: Promise<unknown> = Promise.resolve();
  function serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn, fn);
    queue = run.catch(() => {});
    return run;
  }

  /** Label one path; what was done goes into `journal` so a failure can undo it. */
  async function setFile(path: string, tcon: string, rem: boolean, journal?: Done[]): Promise<FileconResult> {
    const r = await files.set(path, tcon, rem && remember);
    if (r === 'done') journal?.push({ path, remember: rem && remember });
    return r;
  }

  /** virSecuritySELinuxTransactionRun's rollback: give back what was labelled, newest first. */
  async function withRollback(fn: (journal: Done[]) => Promise<void>): Promise<void> {
    const journal: Done[] = [];
    try {
      await fn(journal);
    } catch (err) {
      for (const d of journal.reverse()) await files.restore(d.path, d.remember).catch(() => {});
      throw err;
    }
  }

  const restoreFile = (path: string, recall: boolean) => files.restore(path, recall && remember);

  const seclabel = (def: DomainDef) => domainSeclabelFor(def, MODEL);
  const labelling = (def: DomainDef): SeclabelDef | undefined => {
    const s = seclabel(def);
    return s && relabelOf(s) ? s : undefined;
  };

  let tcgWarned = false;

  // -------------------------------------------------------------------------------------------
  // Images (virSecuritySELinuxSetImageLabelInternal / RestoreImageLabelSingle)

  const isLocal = (src: SecurityImageSource) =>
    (src.type === 'file' || src.type === 'block' || src.type === 'dir') && !!src.path;

  async function setImageLayer(
    sec: SeclabelDef,
    src: SecurityImageSource,
    parent: SecurityImageSource,
    isChainTop: boolean,
    journal: Done[] | undefined,
  ): Promise<void> {
    if (!isLocal(src)) return;
    const ctx = await contexts();
    const rem = isChainTop && !src.readonly && !src.shared;
    const own = ownLabel(src.seclabels);
    const up = ownLabel(parent.seclabels);
    let use: string | undefined;
    if (own && (!deviceRelabel(own) || own.label !== undefined)) {
      if (!deviceRelabel(own)) return;
      use = own.label;
    } else if (up && (!deviceRelabel(up) || up.label !== undefined)) {
      if (!deviceRelabel(up)) return;
      use = up.label;
    } else if (parent === src) {
      if (src.shared) use = ctx.image;
      else if (src.readonly) use = ctx.content;
      else if (sec.imagelabel) use = sec.imagelabel;
      else return;
    } else {
      use = ctx.content;
    }
    const r = await setFile(src.path!, use!, rem, journal);
    if (r === 'skipped' && !own) {
      // Not labelled but allowed on (virt_use_nfs): nothing to restore later.
      src.seclabels.push({ model: MODEL, labelskip: 'yes' });
    }
  }

  async function setImage(
    def: DomainDef,
    src: SecurityImageSource,
    flags: SecurityImageLabelFlags,
    journal?: Done[],
  ): Promise<void> {
    const sec = labelling(def);
    if (!sec) return;
    let top = flags.chainTop ?? false;
    for (let n: SecurityImageSource | undefined = src; n; n = n.backingStore) {
      await setImageLayer(sec, n, src, top, journal);
      if (!flags.backingChain) break;
      top = false;
    }
  }

  async function restoreImage(def: DomainDef, src: SecurityImageSource, migrated: boolean): Promise<void> {
    if (!labelling(def)) return;
    const own = ownLabel(src.seclabels);
    if (own && !deviceRelabel(own)) return;
    if (own?.labelskip === 'yes' && !src.backingStore) return;
    // Other guests may still use readonly and shared images.
    if (src.readonly || src.shared) return;
    if (!isLocal(src)) return;
    if (migrated) {
      const fs = await (options.fsType ?? mountInfoFsType(host))(src.path!);
      if (fs === undefined || SHARED_FS.has(fs)) {
        info(`Skipping image label restore on ${src.path} because FS is shared`);
        return;
      }
    }
    await restoreFile(src.path!, true);
  }

  // -------------------------------------------------------------------------------------------
  // Chardevs, hostdevs, inputs, memory, TPM

  async function setChardev(def: DomainDef, dev: SecurityChardev, stdioLogd: boolean, journal?: Done[]) {
    const sec = labelling(def);
    if (!sec) return;
    for (const p of await chardevSecurityPaths(dev, MODEL, host, 'set', stdioLogd)) {
      const label = p.seclabel?.label ?? sec.imagelabel;
      if (label) await setFile(p.path, label, true, journal);
    }
  }

  async function restoreChardev(def: DomainDef, dev: SecurityChardev, stdioLogd: boolean) {
    if (!labelling(def)) return;
    for (const p of await chardevSecurityPaths(dev, MODEL, host, 'restore', stdioLogd)) {
      await restoreFile(p.path, true);
    }
  }

  /** SCSI generic nodes take the disk rules: shareable → the shared image label, readonly → content. */
  async function setHostdevNode(
    sec: SeclabelDef,
    n: HostdevNode,
    vroot: string | undefined,
    journal?: Done[],
  ) {
    const ctx = await contexts();
    const label = n.shareable ? ctx.image : n.readonly ? ctx.content : sec.imagelabel;
    // A VFIO group node is shared by the group's devices: never remembered (as libvirt).
    if (label) await setFile(vroot ? `${vroot}${n.path}` : n.path, label, n.remember, journal);
  }

  async function setHostdev(def: DomainDef, dev: HostdevDef, vroot: string | undefined, journal?: Done[]) {
    const sec = labelling(def);
    if (!sec) return;
    for (const n of await hostdevNodes(dev, host)) await setHostdevNode(sec, n, vroot, journal);
  }

  async function restoreHostdev(def: DomainDef, dev: HostdevDef, vroot: string | undefined) {
    if (!labelling(def)) return;
    for (const n of await hostdevNodes(dev, host)) {
      if (n.shareable || n.readonly) continue;
      await restoreFile(vroot ? `${vroot}${n.path}` : n.path, n.remember);
    }
  }

  async function setInput(def: DomainDef, input: InputDef, journal?: Done[]) {
    const sec = seclabel(def);
    const p = inputPath(input);
    if (sec?.imagelabel && p) await setFile(p, sec.imagelabel, true, journal);
  }

  async function setMemory(def: DomainDef, mem: MemoryDeviceDef, journal?: Done[]) {
    const sec = labelling(def);
    if (!sec?.imagelabel) return;
    for (const p of memoryPaths(mem)) await setFile(p, sec.imagelabel, true, journal);
  }

  async function collect(errors: unknown[], fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      errors.push(err);
    }
  }

  function raise(errors: unknown[]): void {
    if (errors.length === 0) return;
    if (errors.length === 1) throw errors[0];
    throw new VirError('OPERATION_FAILED', 'security', errors.map((e) => (e as Error).message).join('; '));
  }

  /** setsockcreatecon, fatal only when enforcing (libvirt's socket label hooks). */
  async function socketContext(context: string | undefined, what: string): Promise<void> {
    try {
      await kernel.setSocketCreateContext(context);
    } catch (err) {
      if (await kernel.enforcing()) {
        throw virReportSystemError(
          err,
          'security',
          `unable to ${what} socket security context '${context ?? ''}'`,
        );
      }
    }
  }

  // -------------------------------------------------------------------------------------------

  const driver: SecurityDriver = {
    name: DRIVER_NAME,

    async probe(virtDriver) {
      if (!(await kernel.enabled())) return 'disable';
      if (virtDriver === 'LXC') return 'disable'; // the QEMU contexts only
      return 'enable';
    },
    getModel: () => MODEL,
    getDOI: () => '0',

    async getBaseLabel(virtType) {
      const ctx = await contexts();
      return virtType === 'qemu' && ctx.tcg ? ctx.tcg : ctx.domain;
    },

    async close() {
      for (const l of [...pool.reserved]) pool.remove(l);
    },

    async domainSecurityVerify(def) {
      const sec = seclabel(def);
      if (!sec) return;
      if (sec.model !== MODEL) throw mismatch(sec.model);
      if (sec.type === 'static') {
        if (sec.label === undefined || !(await kernel.checkContext(sec.label))) {
          throw virReportError('XML_ERROR', 'security', `Invalid security label ${sec.label ?? ''}`);
        }
      }
    },

    /** virSecuritySELinuxGenLabel */
    async domainGenSecurityLabel(def) {
      const sec = seclabel(def);
      if (!sec) return;
      const type = sec.type ?? 'dynamic';
      if (type === 'dynamic' && sec.label) throw internal('security label already defined for VM');
      // A static label may bring its own image label (basic confinement: one type for every
      // guest, images virt_image_t); anywhere else an image label is generated, as in libvirt.
      const ownImage = type === 'static' && sec.imagelabel !== undefined;
      if (sec.imagelabel !== undefined && !ownImage) {
        throw internal('security image label already defined for VM');
      }
      const ctx = await contexts();
      let mcs: string;
      let added: string | undefined;
      let daemon: string | undefined;
      const daemonContext = async () => {
        if (daemon !== undefined) return daemon;
        try {
          daemon = await kernel.currentContext();
        } catch (err) {
          throw virReportSystemError(err, 'security', `Unable to get current process SELinux context`);
        }
        return daemon;
      };
      try {
        switch (type) {
          case 'static': {
            if (sec.label === undefined || !parseContext(sec.label)) {
              throw new VirError(
                'SYSTEM_ERROR',
                'security',
                `unable to allocate socket security context '${sec.label ?? ''}'`,
              );
            }
            const range = contextRange(sec.label);
            if (range === undefined) {
              throw new VirError('SYSTEM_ERROR', 'security', 'unable to get selinux context range');
            }
            mcs = range;
            break;
          }
          case 'dynamic': {
            const range = processRange(await daemonContext());
            mcs = pool.find(range);
            pool.add(mcs);
            added = mcs;
            let base = sec.baselabel;
            if (!base) {
              if (def.type === 'qemu') {
                if (!ctx.tcg) {
                  if (!tcgWarned) {
                    warn(
                      "SELinux policy does not define a domain type for QEMU TCG. Guest startup may be denied due to missing 'execmem' privilege unless the 'virt_use_execmem' policy boolean is enabled",
                    );
                    tcgWarned = true;
                  }
                  base = ctx.domain;
                } else base = ctx.tcg;
              } else base = ctx.domain;
            }
            sec.label = genNewContext(base, mcs, await daemonContext(), false);
            break;
          }
          case 'none':
            mcs = processRange(await daemonContext()).sens;
            break;
        }
        if (!ownImage) sec.imagelabel = genNewContext(ctx.image, mcs, await daemonContext(), true);
        sec.model ??= MODEL;
      } catch (err) {
        if (added) pool.remove(added);
        if (type === 'dynamic') delete sec.label;
        if (!ownImage) delete sec.imagelabel;
        throw err;
      }
    },

    /** virSecuritySELinuxReserveLabel: take back a running guest's pair (daemon restart). */
    async domainReserveSecurityLabel(def, pid) {
      const sec = seclabel(def);
      if (!sec || sec.type === 'none' || sec.type === 'static') return;
      let pctx: string;
      try {
        pctx = await kernel.pidContext(pid);
      } catch (err) {
        throw virReportSystemError(err, 'security', `unable to get PID ${pid} security context`);
      }
      const mcs = contextRange(pctx);
      if (mcs === undefined) {
        throw new VirError('SYSTEM_ERROR', 'security', `Unable to parse SELinux context '${pctx}'`);
      }
      if (!pool.add(mcs)) throw internal(`MCS level for existing domain label ${pctx} already reserved`);
    },

    /** virSecuritySELinuxReleaseLabel: the pair is free again. */
    async domainReleaseSecurityLabel(def) {
      const sec = seclabel(def);
      if (!sec) return;
      if ((sec.type ?? 'dynamic') === 'dynamic') {
        const range = sec.label ? contextRange(sec.label) : undefined;
        if (range !== undefined) pool.remove(range);
        delete sec.label;
      }
      delete sec.imagelabel;
    },

    async domainSetSecurityAllLabel(def: DomainDef, opts: SecuritySetAllOptions) {
      const sec = labelling(def);
      if (!sec) return;
      const ctx = await contexts();
      // So a labelskip mark lands in the live definition.
      for (const disk of def.devices?.disk ?? []) if (disk.source) disk.source.seclabel ??= [];
      const chain = { backingChain: true, chainTop: true };
      await serialized(() =>
        withRollback(async (journal) => {
          for (const e of await domainSecurityPaths(def, MODEL, host, 'set', opts.chardevStdioLogd)) {
            switch (e.kind) {
              case 'disk':
                if (e.dir)
                  warn(`Unable to relabel directory tree ${e.image.path ?? ''} for disk ${e.target ?? ''}`);
                else await setImage(def, e.image, chain, journal);
                break;
              case 'nvram':
                await setImage(def, e.image, chain, journal);
                break;
              case 'hostdev':
                await setHostdevNode(sec, e, undefined, journal);
                break;
              case 'input':
              case 'memory':
              case 'chardev':
              case 'smartcard': {
                const label = ('seclabel' in e ? e.seclabel?.label : undefined) ?? sec.imagelabel;
                if (label) await setFile(e.path, label, true, journal);
                break;
              }
              case 'tpm':
                if (sec.imagelabel) await setFile(e.path, sec.imagelabel, false, journal);
                break;
              case 'smartcard-db':
              case 'fwcfg':
              case 'os':
                await setFile(e.path, ctx.content, true, journal);
                break;
              case 'unresolved':
                if (e.of !== 'tpm' || sec.imagelabel) throw e.error;
                break;
              case 'rendernode': // libvirt's SELinux driver leaves render nodes alone
                break;
            }
          }
        }),
      );
    },

    async domainRestoreSecurityAllLabel(def: DomainDef, opts: SecurityRestoreAllOptions) {
      if (!labelling(def)) return;
      const errors: unknown[] = [];
      await serialized(async () => {
        for (const e of await domainSecurityPaths(def, MODEL, host, 'restore', opts.chardevStdioLogd)) {
          if (e.kind === 'unresolved') errors.push(e.error);
          else if (e.kind === 'disk' || e.kind === 'nvram') {
            await collect(errors, () => restoreImage(def, e.image, opts.migrated ?? false));
          } else if (e.kind === 'hostdev') {
            if (!e.shareable && !e.readonly) await collect(errors, () => restoreFile(e.path, e.remember));
          } else if (e.kind !== 'rendernode') {
            // TPM nodes were labelled without remembering (virSecuritySELinuxSetTPMFileLabel).
            await collect(errors, () => restoreFile(e.path, e.kind !== 'tpm'));
          }
        }
      });
      raise(errors);
    },

    async domainSetSecurityImageLabel(def, src, flags) {
      await serialized(() => withRollback((journal) => setImage(def, src, flags, journal)));
    },
    async domainRestoreSecurityImageLabel(def, src) {
      await serialized(() => restoreImage(def, src, false));
    },
    async domainMoveImageMetadata(_pid, src, dst) {
      if (!src || !isLocal(src)) return;
      const to = dst && isLocal(dst) ? dst.path : undefined;
      await serialized(() => store.move(src.path!, to));
    },

    async domainSetSecurityHostdevLabel(def, dev, vroot) {
      await serialized(() => withRollback((journal) => setHostdev(def, dev, vroot, journal)));
    },
    async domainRestoreSecurityHostdevLabel(def, dev, vroot) {
      await serialized(() => restoreHostdev(def, dev, vroot));
    },

    async domainSetSecurityChardevLabel(def, dev, stdioLogd) {
      await serialized(() => withRollback((journal) => setChardev(def, dev, stdioLogd, journal)));
    },
    async domainRestoreSecurityChardevLabel(def, dev, stdioLogd) {
      await serialized(() => restoreChardev(def, dev, stdioLogd));
    },

    async domainSetSecurityInputLabel(def, input) {
      await serialized(() => withRollback((journal) => setInput(def, input, journal)));
    },
    async domainRestoreSecurityInputLabel(def, input) {
      const p = inputPath(input);
      if (seclabel(def) && p) await serialized(() => restoreFile(p, true));
    },

    async domainSetSecurityMemoryLabel(def, mem) {
      await serialized(() => withRollback((journal) => setMemory(def, mem, journal)));
    },
    async domainRestoreSecurityMemoryLabel(def, mem) {
      if (!labelling(def)) return;
      const errors: unknown[] = [];
      await serialized(async () => {
        for (const p of memoryPaths(mem)) await collect(errors, () => restoreFile(p, true));
      });
      raise(errors);
    },

    async domainSetSavedStateLabel(def, savefile) {
      if (!labelling(def)) return;
      const ctx = await contexts();
      await serialized(() => setFile(savefile, ctx.content, false).then(() => {}));
    },
    async domainRestoreSavedStateLabel(def, savefile) {
      if (!labelling(def)) return;
      await serialized(() => restoreFile(savefile, true));
    },

    async domainSetPathLabel(def, path) {
      const sec = labelling(def);
      if (!sec?.imagelabel) return;
      await serialized(() => setFile(path, sec.imagelabel!, true).then(() => {}));
    },
    async domainSetPathLabelRO(def, path) {
      if (!labelling(def)) return;
      const ctx = await contexts();
      await serialized(() => setFile(path, ctx.content, false).then(() => {}));
    },
    async domainRestorePathLabel(def, path) {
      if (!labelling(def)) return;
      await serialized(() => restoreFile(path, true));
    },

    async domainGetSecurityProcessLabel(_def, pid) {
      let label: string;
      try {
        label = await kernel.pidContext(pid);
      } catch (err) {
        throw virReportSystemError(err, 'security', `unable to get PID ${pid} security context`);
      }
      return { label, enforcing: await kernel.enforcing() };
    },

    /** virSecuritySELinuxSetChildProcessLabel: QEMU is exec'd under the guest's label. */
    async domainSetSecurityChildProcessLabel(def: DomainDef, spec: LaunchSpec) {
      const sec = seclabel(def);
      if (!sec?.label) return;
      if (sec.model !== MODEL && (await kernel.enforcing())) throw mismatch(sec.model);
      spec.seLinuxLabel = sec.label;
    },

    async domainSetSecurityDaemonSocketLabel(def) {
      const sec = seclabel(def);
      if (!sec?.label) return;
      let ctx: string;
      try {
        ctx = contextAddRange(sec.label, await kernel.currentContext());
      } catch (err) {
        if (await kernel.enforcing()) throw err;
        return;
      }
      await socketContext(ctx, 'set');
    },
    async domainSetSecuritySocketLabel(def) {
      const sec = seclabel(def);
      if (sec?.label) await socketContext(sec.label, 'set');
    },
    async domainClearSecuritySocketLabel(def) {
      const sec = seclabel(def);
      if (sec?.label) await socketContext(undefined, 'clear');
    },

    /** virSecuritySELinuxGetSecurityMountOptions */
    async domainGetSecurityMountOptions(def) {
      const sec = seclabel(def);
      if (!sec) return '';
      if (!sec.imagelabel && sec.label) {
        const range = contextRange(sec.label);
        if (range !== undefined) {
          sec.imagelabel = genNewContext(
            (await contexts()).image,
            range,
            await kernel.currentContext(),
            true,
          );
        }
      }
      return sec.imagelabel ? `,context="${sec.imagelabel}"` : '';
    },
  };
  return driver;
}

/** Lets the registry index the factory without constructing it. */
Object.defineProperty(selinux, 'driverName', { value: DRIVER_NAME });
