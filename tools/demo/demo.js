#!/usr/bin/env node
// README's demo: boots a real guest with qvirt's driver in an embedded instance (qemu:///embed),
// all inside a temporary directory that is removed at the end.
//   1. writes a 512-byte boot sector qvirt makes itself (it prints a greeting on COM1 and halts),
//   2. defines a domain shaped like docs/examples/demo.xml with that disk and a serial log file,
//   3. starts it (QEMU with -S, QMP handshake, cont), waits for the greeting on the serial log,
//   4. shows the serial output, `qvirsh list`, the command line used and the live XML,
//   5. destroys it and removes everything.
// TCG (type='qemu') is used, so it needs no /dev/kvm.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { main as qvirsh } from '@qvirt/cli';
import { errorLine } from '@qvirt/core';
import { domainReasonText, domainStateName } from '@qvirt/core/hypervisor';
import { greetingBootSector, QemuDriver } from '@qvirt/driver';
import { formatCommandLine } from '@qvirt/qemu-argv';

const t0 = performance.now();
const ms = () => `${Math.round(performance.now() - t0)} ms`;
const root = mkdtempSync(path.join(tmpdir(), 'qvirt-demo-'));
// QEMU runs as the instance's user (libvirt-qemu where Debian's libvirt is installed): it must
// pass through to the disk and serial log here, as DAC's traversal check demands
chmodSync(root, 0o711);
const uri = `qemu:///embed?root=${root}`;
let driver;
try {
  const disk = path.join(root, 'boot.img');
  const serial = path.join(root, 'serial.log');
  writeFileSync(disk, greetingBootSector());
  console.log(`== embedded instance ${uri}`);
  console.log(`== wrote a 512-byte boot sector to ${disk}`);

  // The seed's example, with our disk (a file instead of /dev/HostVG/…) and a serial log.
  const seed = readFileSync(new URL('../../docs/examples/demo.xml', import.meta.url), 'utf8');
  const xml = seed.replace(
    /<disk type='block' device='disk'>[\s\S]*?<\/disk>/,
    `<disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='${disk}'/>
      <target dev='hda' bus='ide'/>
    </disk>
    <serial type='file'>
      <source path='${serial}'/>
      <target port='0'/>
    </serial>`,
  );

  driver = await QemuDriver.open(uri);
  const dom = await driver.domainDefineXML(xml);
  console.log(`== defined ${dom.name} (${dom.uuid}) [${ms()}]`);
  const tStart = performance.now();
  await driver.domainCreateWithFlags(dom, 0);
  console.log(`== started ${dom.name}, pid ${driver.getProcess(dom.name).pid} [${ms()}]`);
  let text = '';
  const deadline = Date.now() + 30_000;
  while (!text.includes('\n')) {
    if (Date.now() > deadline) throw new Error('no greeting on the serial log within 30 s');
    try {
      text = readFileSync(serial, 'utf8');
    } catch {}
    await new Promise((r) => setTimeout(r, 5));
  }
  console.log(`== the guest's serial output (${Math.round(performance.now() - tStart)} ms after start):\n`);
  console.log(`   ${text.trim()}\n`);

  console.log('== qvirsh list --all');
  await qvirsh(['-c', uri, 'list', '--all']);
  console.log('== the QEMU command line it was started with:\n');
  console.log(formatCommandLine(driver.getProcess(dom.name).commandLine));
  console.log('\n== the live XML (dumpxml):\n');
  console.log(await driver.domainGetXMLDesc(dom, 0));

  const tDestroy = performance.now();
  await driver.domainDestroy(dom);
  const { state, reason } = await driver.domainGetState(dom, 0);
  console.log(
    `== destroyed in ${Math.round(performance.now() - tDestroy)} ms; state ${domainStateName(state)} (${domainReasonText(state, reason)})`,
  );
  await driver.domainUndefine(dom);
  console.log(`== undefined; total ${ms()}`);
} catch (err) {
  console.error(`error: ${errorLine(err)}`);
  process.exitCode = 1;
} finally {
  await driver?.connectClose();
  rmSync(root, { recursive: true, force: true });
}
