/**
 * Host NUMA availability (libvirt's virNumaNodesetIsAvailable and
 * virDomainNumatuneNodesetIsAvailable): a `<numatune>` nodeset or a memory module's
 * `<source><nodemask>` may only name NUMA nodes the host has. libvirt checks while it builds the
 * command line (qemuBuildMemoryBackendProps, qemuBuildNumaCommandLine), so `domxml-to-native` and
 * a start refuse, `define` does not. Without a host description nothing is checked.
 */
import { hostNumaNodeExists } from '@qvirt/core';
import type { Build } from '../build.js';
import { numaCells, parseBitmap, unsupported } from './head-util.js';

/** virNumaNodesetIsAvailable: the first node of `nodes` the host lacks is refused. */
export function checkHostNodeset(b: Build, nodes: readonly number[] | undefined): void {
  const host = b.ctx.host;
  if (!host || !nodes) return;
  for (const node of [...nodes].sort((x, y) => x - y)) {
    if (!hostNumaNodeExists(host, node)) throw unsupported(`NUMA node ${node} is unavailable`);
  }
}

/**
 * virDomainNumatuneNodesetIsAvailable: the domain's nodeset, then each guest cell's (its
 * `<memnode>`, else the domain's). With automatic placement the nodeset would come from numad,
 * which libvirt does not check here.
 */
export function checkNumatuneAvailable(b: Build): void {
  const tune = b.def.numatune;
  if (!b.ctx.host || !tune) return;
  if (tune.memory?.placement === 'auto') return;
  const global = tune.memory?.nodeset !== undefined ? parseBitmap(tune.memory.nodeset) : undefined;
  checkHostNodeset(b, global);
  numaCells(b.def).forEach((_cell, i) => {
    const node = tune.memnode?.find((m) => m.cellid === i && m.nodeset !== undefined);
    checkHostNodeset(b, node?.nodeset !== undefined ? parseBitmap(node.nodeset) : global);
  });
}
