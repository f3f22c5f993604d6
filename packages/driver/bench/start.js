#!/usr/bin/env node
// pnpm bench (driver): start latency (`start` → the guest's greeting on its serial log) against
// raw QEMU started with the same command line minus -S (the floor), and destroy time. Medians of
// BENCH_RUNS (default 7) runs each, measured in this one invocation. TCG, the demo's boot sector.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { greetingBootSector, QemuDriver } from '../dist/index.js';

const runs = Number(process.env.BENCH_RUNS ?? 7);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const root = mkdtempSync(path.join(tmpdir(), 'qvirt-bench-'));
// QEMU runs as the instance's user (libvirt-qemu where Debian's libvirt is installed): it must pass
// through to the disk and serial log here
chmodSync(root, 0o711);
const disk = path.join(root, 'boot.img');
const serial = path.join(root, 'serial.log');
writeFileSync(disk, greetingBootSector());
const xml = `<domain type='qemu'><name>bench</name><memory unit='MiB'>32</memory>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
<serial type='file'><source path='${serial}'/><target port='0'/></serial></devices></domain>`;

async function greeting(since) {
  for (;;) {
    let text = '';
    try {
      text = readFileSync(serial, 'utf8');
    } catch {}
    if (text.includes('\n')) return performance.now() - since;
    if (performance.now() - since > 30_000) throw new Error('no greeting within 30 s');
    await new Promise((r) => setTimeout(r, 2));
  }
}

const driver = await QemuDriver.open(`qemu:///embed?root=${root}`);
try {
  await driver.defineXML(xml);
  const starts = [];
  const destroys = [];
  let commandLine;
  for (let i = 0; i < runs; i++) {
    writeFileSync(serial, '');
    const t = performance.now();
    await driver.start('bench');
    starts.push(await greeting(t));
    commandLine = driver.getProcess('bench').commandLine;
    const d = performance.now();
    await driver.destroy('bench');
    destroys.push(performance.now() - d);
  }
  // The floor: the same binary, environment and arguments, running at once (no -S, no QMP dance).
  // The driver removes the domain's private directory on stop; give raw QEMU its master key back.
  const keyFile = commandLine.args.map((a) => /"file":"([^"]*master-key\.aes)"/.exec(a)?.[1]).find(Boolean);
  const floors = [];
  for (let i = 0; i < runs; i++) {
    if (keyFile) {
      mkdirSync(path.dirname(keyFile), { recursive: true });
      writeFileSync(keyFile, Buffer.alloc(32, 7));
    }
    truncateSync(serial, 0);
    const t = performance.now();
    const child = spawn(
      commandLine.binary,
      commandLine.args.filter((a) => a !== '-S'),
      {
        env: Object.fromEntries(commandLine.env),
        stdio: 'ignore',
      },
    );
    floors.push(await greeting(t));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
  const s = median(starts);
  const f = median(floors);
  console.log(
    `driver start → greeting: ${s.toFixed(0)} ms median of ${runs}; raw QEMU, same argv: ${f.toFixed(0)} ms; ratio ${(s / f).toFixed(2)}x`,
  );
  console.log(`driver destroy: ${median(destroys).toFixed(1)} ms median of ${runs}`);
} finally {
  await driver.undefine('bench').catch(() => {});
  await driver.close?.();
  rmSync(root, { recursive: true, force: true });
}
