/**
 * qvirt's side, in process: `@qvirt/driver`'s QemuDriver on its own embed root, through the same
 * contract methods the daemon serves (define, dumpxml --inactive, undefine; domxml-to-native).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { errorLine, VIR_DOMAIN_XML } from '@qvirt/core';
import { QemuDriver } from '@qvirt/driver';
import type { SideResult } from './libvirt-side.js';

export class QvirtSide {
  readonly root: string;
  readonly #dir: string;
  #driver?: QemuDriver;

  constructor() {
    this.#dir = mkdtempSync(path.join(tmpdir(), 'qvirt-diff-qvirt-'));
    chmodSync(this.#dir, 0o755);
    this.root = path.join(this.#dir, 'root');
    mkdirSync(path.join(this.root, 'etc'), { recursive: true });
    writeFileSync(path.join(this.root, 'etc/qemu.conf'), 'user = "root"\ngroup = "root"\n');
  }

  async ready(): Promise<void> {
    this.#driver = await QemuDriver.open(`qemu:///embed?root=${this.root}`);
  }

  async run(xml: string): Promise<SideResult> {
    const d = this.#driver!;
    let define: SideResult['define'];
    try {
      const dom = await d.domainDefineXML(xml);
      try {
        define = { xml: await d.domainGetXMLDesc(dom, VIR_DOMAIN_XML.INACTIVE) };
      } finally {
        await d.domainUndefine(dom);
      }
    } catch (err) {
      define = { error: errorLine(err) };
    }
    let native: SideResult['native'];
    try {
      native = { argv: await d.connectDomainXMLToNative('qemu-argv', xml, 0) };
    } catch (err) {
      native = { error: errorLine(err) };
    }
    return { define, native };
  }

  async close(): Promise<void> {
    await this.#driver?.close();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
