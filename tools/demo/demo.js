#!/usr/bin/env node
// README's demo. Until the driver lands it shows the conversion path a start will use, on the
// seed's example domain: the XML as libvirt would store it after define, then the QEMU command
// line libvirt 9.0 would build for it (in an embedded instance's directories).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultQemuConf, errorLine, formatDomainXML, parseConnectionUri, parseDomainXML } from '@qvirt/core';
import {
  buildCommandLine,
  canonicalizeDomain,
  embedLayout,
  formatCommandLine,
  qemu72Caps,
} from '@qvirt/qemu-argv';

const root = mkdtempSync(path.join(tmpdir(), 'qvirt-demo-'));
try {
  const uri = parseConnectionUri(`qemu:///embed?root=${root}`);
  console.log(`== connection ${uri.instance} instance, root ${uri.root}`);
  const file = new URL('../../docs/examples/demo.xml', import.meta.url);
  const def = parseDomainXML(readFileSync(file, 'utf8'), { source: 'demo.xml' });
  const ctx = {
    caps: qemu72Caps(),
    conf: defaultQemuConf({ privileged: process.getuid?.() === 0 }),
    layout: embedLayout(root),
    domainId: -1,
    purpose: 'native',
    path: process.env.PATH,
  };
  const canonical = canonicalizeDomain(def, ctx);
  console.log(`== ${def.name} as libvirt 9.0 stores it after define:\n`);
  console.log(formatDomainXML(canonical));
  console.log('== the QEMU 7.2 command line (domxml-to-native qemu-argv):\n');
  console.log(formatCommandLine(buildCommandLine(canonical, ctx)));
} catch (err) {
  console.error(`error: ${errorLine(err)}`);
  process.exitCode = 1;
} finally {
  rmSync(root, { recursive: true, force: true });
}
