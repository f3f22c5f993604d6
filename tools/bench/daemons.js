#!/usr/bin/env node
// pnpm bench (daemons): issue #21's table, measured in this one invocation. The real virsh drives
// qvirtd (started here, on a temporary instance) and, when Debian's libvirtd runs on the machine,
// libvirtd at qemu:///system; baselines are QEMU started directly with the guest's own argv and
// `node -e 0`. Medians of BENCH_RUNS (default 7). The guest is the demo's boot sector under TCG,
// which prints one line on its serial port.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { greetingBootSector } from '@qvirt/driver';

const run = promisify(execFile);
const runs = Number(process.env.BENCH_RUNS ?? 7);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const here = path.dirname(new URL(import.meta.url).pathname);
const QVIRTD = path.resolve(here, '../../packages/remote/bin/qvirtd.js');
const QVIRSH = path.resolve(here, '../../packages/cli/bin/qvirsh.js');
const VIRSH = '/usr/bin/virsh';
const LIBVIRT_URI = 'qemu:///system';
const hasLibvirtd = existsSync(VIRSH) && existsSync('/run/libvirt/libvirt-sock');
if (!existsSync(VIRSH)) {
  console.log('daemons: skipped (no virsh here; tools/bootstrap.sh installs it)');
  process.exit(0);
}

const dir = mkdtempSync(path.join(tmpdir(), 'qvirt-bench-daemons-'));
// QEMU runs as the instance's user (libvirt-qemu where Debian's libvirt is installed, and always
// under libvirtd): it must reach the disks and serial logs here
chmodSync(dir, 0o711);
const bootSector = greetingBootSector();

/** A guest of its own disk (QEMU locks an image against a second writer) and serial log. */
function domainXml(name, serial) {
  const disk = path.join(dir, `${name}.img`);
  writeFileSync(disk, bootSector);
  return `<domain type='qemu'><name>${name}</name><memory unit='MiB'>32</memory>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
<serial type='file'><source path='${serial}'/><target port='0'/></serial></devices></domain>`;
}

async function greeted(serial, since, deadline = 60_000) {
  for (;;) {
    let text = '';
    try {
      text = readFileSync(serial, 'utf8');
    } catch {}
    if (text.includes('\n')) return performance.now() - since;
    if (performance.now() - since > deadline) throw new Error(`no greeting in ${serial}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const virsh = (uri, ...args) => run(VIRSH, ['-c', uri, ...args], { env: { ...process.env, LC_ALL: 'C' } });
const time = async (fn) => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};

/** qvirtd as the bin runs it, on its own instance; resolves once `virsh list` is answered. */
async function startQvirtd() {
  const root = path.join(dir, `qvirtd-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(`${root}/sock`, { recursive: true });
  chmodSync(root, 0o711);
  const uri = `qemu+unix:///system?socket=${root}/sock/libvirt-sock`;
  const t = performance.now();
  const child = spawn(
    process.execPath,
    [QVIRTD, '--uri', `qemu:///embed?root=${root}/root`, '--socket-dir', `${root}/sock`],
    {
      stdio: 'ignore',
    },
  );
  for (;;) {
    try {
      execFileSync(VIRSH, ['-c', uri, 'list'], { stdio: 'ignore' });
      break;
    } catch {
      if (performance.now() - t > 30_000) throw new Error('qvirtd did not answer within 30 s');
      await new Promise((r) => setTimeout(r, 2));
    }
  }
  const firstList = performance.now() - t;
  return {
    uri,
    root,
    firstList,
    pid: child.pid,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
const pidOf = (name) => {
  try {
    return Number(execFileSync('pgrep', ['-xo', name], { encoding: 'utf8' }).trim());
  } catch {
    return undefined;
  }
};

/** Start → greeting and destroy, `runs` times, on one daemon; the QEMU argv of the last start. */
async function startDestroy(uri, name) {
  const serial = path.join(dir, `${name}.log`);
  const xml = path.join(dir, `${name}.xml`);
  writeFileSync(xml, domainXml(name, serial));
  await virsh(uri, 'define', xml);
  const starts = [];
  const destroys = [];
  let argv;
  try {
    for (let i = 0; i < runs; i++) {
      writeFileSync(serial, '');
      const t = performance.now();
      await virsh(uri, 'start', name);
      starts.push(await greeted(serial, t));
      const pid = Number(
        execFileSync('pgrep', ['-f', `guest=${name},`], { encoding: 'utf8' }).split('\n')[0],
      );
      argv = {
        args: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1),
        env: Object.fromEntries(
          readFileSync(`/proc/${pid}/environ`, 'utf8')
            .split('\0')
            .filter(Boolean)
            .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
        ),
      };
      destroys.push(await time(() => virsh(uri, 'destroy', name)));
    }
  } finally {
    await virsh(uri, 'undefine', name).catch(() => {});
  }
  return { start: median(starts), destroy: median(destroys), argv };
}

/** QEMU with a guest's argv minus -S (the floor of any start). */
async function rawQemu({ args, env }) {
  const serial = path.join(dir, 'raw.log');
  const argv = args.slice(1).filter((a) => a !== '-S');
  // the guest's serial file and master key (the daemon removed its private files at destroy)
  const i = argv.findIndex((a) => a.includes('"file":') && a.includes('master-key.aes'));
  const keyFile = i >= 0 ? /"file":"([^"]*)"/.exec(argv[i])?.[1] : undefined;
  const times = [];
  for (let k = 0; k < runs; k++) {
    if (keyFile) {
      mkdirSync(path.dirname(keyFile), { recursive: true });
      writeFileSync(keyFile, Buffer.alloc(32, 7));
    }
    const sargs = argv.map((a) => a.replace(/path=[^,]*\.log/, `path=${serial}`));
    writeFileSync(serial, '');
    const t = performance.now();
    const child = spawn(args[0], sargs, { env, stdio: 'ignore' });
    times.push(await greeted(serial, t));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    if (keyFile) rmSync(path.dirname(keyFile), { recursive: true, force: true });
  }
  return median(times);
}

/** `count` transient guests created at once (one virsh each) → every one greeted. */
async function parallelCreates(uri, prefix, count = 10) {
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  const files = names.map((n) => {
    const serial = path.join(dir, `${n}.log`);
    writeFileSync(serial, '');
    const xml = path.join(dir, `${n}.xml`);
    writeFileSync(xml, domainXml(n, serial));
    return { n, serial, xml };
  });
  const t = performance.now();
  try {
    await Promise.all(
      files.map(async (f) => {
        await virsh(uri, 'create', f.xml);
        await greeted(f.serial, t, 120_000);
      }),
    );
    return performance.now() - t;
  } finally {
    await Promise.all(names.map((n) => virsh(uri, 'destroy', n).catch(() => {})));
  }
}

/** define + dumpxml --inactive + undefine, three commands in one virsh. */
async function defineDumpUndefine(uri, name) {
  const xml = path.join(dir, `${name}-ddu.xml`);
  writeFileSync(xml, domainXml(name, path.join(dir, `${name}-ddu.log`)));
  const times = [];
  for (let i = 0; i < runs * 2; i++) {
    times.push(await time(() => virsh(uri, `define ${xml}; dumpxml --inactive ${name}; undefine ${name}`)));
  }
  return median(times);
}

const timeProcess = (cmd, args, n = runs * 2) => {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    execFileSync(cmd, args, { stdio: 'ignore' });
    times.push(performance.now() - t);
  }
  return median(times);
};

const rows = [];
const row = (figure, libvirt, qvirt, baseline) => rows.push({ figure, libvirt, qvirt, baseline });
const ms = (x) => (x === undefined ? '–' : `${x.toFixed(0)} ms`);
const ratio = (a, b) => (a === undefined || b === undefined ? '–' : (a / b).toFixed(2));

let daemon;
try {
  // daemon start → first list, and idle RSS, on fresh daemons
  const firstLists = [];
  const rss = [];
  for (let i = 0; i < Math.min(runs, 5); i++) {
    const d = await startQvirtd();
    firstLists.push(d.firstList);
    await new Promise((r) => setTimeout(r, 2000));
    rss.push(rssKiB(d.pid));
    await d.stop();
  }
  const libvirtdPid = hasLibvirtd ? pidOf('libvirtd') : undefined;
  const libvirtdRss = libvirtdPid ? rssKiB(libvirtdPid) : undefined;
  daemon = await startQvirtd();

  const q = await startDestroy(daemon.uri, 'qvirt-bench');
  const l = hasLibvirtd ? await startDestroy(LIBVIRT_URI, 'qvirt-bench-lv') : undefined;
  const raw = await rawQemu(q.argv);
  row('start → guest greeting', l?.start, q.start, `raw QEMU ${ms(raw)}: qvirt ${ratio(q.start, raw)}x`);
  row('destroy', l?.destroy, q.destroy, '');
  const qp = await parallelCreates(daemon.uri, 'qvirt-bench-par');
  const lp = hasLibvirtd ? await parallelCreates(LIBVIRT_URI, 'qvirt-bench-lvpar') : undefined;
  row('10 guests created at once → all greet', lp, qp, '');
  const qd = await defineDumpUndefine(daemon.uri, 'qvirt-bench-ddu');
  const ld = hasLibvirtd ? await defineDumpUndefine(LIBVIRT_URI, 'qvirt-bench-lvddu') : undefined;
  row('define + dumpxml --inactive + undefine (one virsh)', ld, qd, '');
  row(
    'daemon RSS, idle 2 s after its first answer',
    libvirtdRss && libvirtdRss / 1024,
    median(rss) / 1024,
    'MiB (libvirtd: as running now)',
  );
  row('daemon start → first `virsh list` answered', undefined, median(firstLists), '');

  // the CLI against node's floor
  const floor = timeProcess(process.execPath, ['-e', '0']);
  const qlist = timeProcess(process.execPath, [QVIRSH, '-c', daemon.uri, 'list']);
  const vlist = timeProcess(VIRSH, ['-c', daemon.uri, 'list']);
  row(
    'list (qvirsh vs virsh, both on qvirtd)',
    vlist,
    qlist,
    `node -e 0 ${ms(floor)}: qvirsh ${ratio(qlist, floor)}x`,
  );
  const nativeRoot = path.join(dir, 'native');
  mkdirSync(nativeRoot);
  const demo = path.resolve(here, '../../docs/examples/demo.xml');
  const native = timeProcess(process.execPath, [
    QVIRSH,
    '-c',
    `qemu:///embed?root=${nativeRoot}`,
    'domxml-to-native',
    'qemu-argv',
    demo,
  ]);
  row(
    'qvirsh domxml-to-native (embedded instance)',
    undefined,
    native,
    `node -e 0: ${ratio(native, floor)}x`,
  );
  // a script asking domstate of 100 guests (one process each), against virsh doing the same
  const script = async (cmd, pre) => {
    const t = performance.now();
    for (let i = 0; i < 100; i++)
      execFileSync(cmd, [...pre, '-c', daemon.uri, 'domstate', 'none'], { stdio: 'ignore' });
    return performance.now() - t;
  };
  // a defined guest to ask about
  writeFileSync(path.join(dir, 'none.xml'), domainXml('none', path.join(dir, 'none.log')));
  await virsh(daemon.uri, 'define', path.join(dir, 'none.xml'));
  row(
    '100 × domstate, one process each (qvirsh vs virsh)',
    await script(VIRSH, []),
    await script(process.execPath, [QVIRSH]),
    '',
  );
} finally {
  await daemon?.stop();
  rmSync(dir, { recursive: true, force: true });
}

console.log(
  `daemons (virsh on each; medians of ${runs}${hasLibvirtd ? '' : '; libvirtd not running here'}):`,
);
console.log('| figure | libvirt | qvirt | qvirt/libvirt | baseline |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of rows) {
  const unit = r.baseline.startsWith('MiB') ? (x) => (x === undefined ? '–' : `${x.toFixed(1)} MiB`) : ms;
  console.log(
    `| ${r.figure} | ${unit(r.libvirt)} | ${unit(r.qvirt)} | ${ratio(r.qvirt, r.libvirt)} | ${r.baseline} |`,
  );
}
