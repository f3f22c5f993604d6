#!/usr/bin/env node
// README's demo. Until the driver lands it shows the foundation on the seed's example domain:
// the XML as qvirt parses and prints it, what it kept without modelling, and the URIs it reads.
import { readFileSync } from 'node:fs';
import { errorLine, formatDomainXML, parseConnectionUri, parseDomainXML, unknownParts } from '@qvirt/core';

const file = new URL('../../docs/examples/demo.xml', import.meta.url);
try {
  const def = parseDomainXML(readFileSync(file, 'utf8'), { source: 'demo.xml' });
  console.log(`== ${def.name}: domain type '${def.type}', ${def.devices?.disk?.length ?? 0} disk(s)`);
  console.log(formatDomainXML(def));
  const unknown = unknownParts(def);
  console.log(
    unknown.length === 0 ? '== every element is modelled' : `== kept verbatim: ${unknown.join(', ')}`,
  );
  for (const uri of [
    'qemu:///system',
    'qemu+ssh://root@example.com/system',
    'qemu:///embed?root=/tmp/qvirt-demo',
  ]) {
    const u = parseConnectionUri(uri);
    console.log(`== ${uri}: ${u.instance} instance over ${u.effectiveTransport}`);
  }
} catch (err) {
  console.error(`error: ${errorLine(err)}`);
  process.exitCode = 1;
}
