// A fake QEMU for tests: answers QMP on stdio the way `-qmp stdio` does. Behaviour comes from the
// config the generated wrapper script passes in (see fakes.ts).
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

function loadReplies(file) {
  const objs = readFileSync(file, 'utf8')
    .split(/\n\s*\n/)
    .filter((c) => c.trim())
    .map((c) => JSON.parse(c));
  // ids restart in the second (TCG) process, so pair each command with the next answer
  const table = new Map();
  let pending;
  for (const o of objs) {
    if (o.execute) pending = o;
    else if (pending && o.id === pending.id) {
      const key = `${pending.execute} ${JSON.stringify(pending.arguments ?? {})}`;
      if (!table.has(key)) table.set(key, []);
      table.get(key).push(o);
      pending = undefined;
    }
  }
  return table;
}

function minimal(cfg, accel) {
  const [major, minor, micro] = cfg.version ?? [7, 2, 0];
  const machines = cfg.machines ?? [
    { name: 'pc-i440fx-7.2', alias: 'pc', 'is-default': true, 'cpu-max': 255, 'hotpluggable-cpus': true },
    { name: 'pc-q35-7.2', alias: 'q35', 'cpu-max': 288, 'hotpluggable-cpus': true },
    { name: 'isapc', 'cpu-max': 1 },
    { name: 'none', 'cpu-max': 1 },
  ];
  return {
    'query-version': { qemu: { major, minor, micro }, package: cfg.package ?? '' },
    'query-target': { arch: cfg.arch ?? 'x86_64' },
    'query-qmp-schema': [],
    'query-commands': ['qmp_capabilities', 'query-version', 'query-cpu-definitions', 'quit'].map((name) => ({
      name,
    })),
    'query-kvm': { enabled: accel.startsWith('kvm'), present: true },
    'qom-list-types': ['tcg-accel', 'VGA', 'e1000', 'piix3-usb-uhci'].map((name) => ({ name })),
    'query-machines': machines,
    'query-cpu-definitions': [
      { name: 'qemu64', typename: 'qemu64-x86_64-cpu', 'unavailable-features': [] },
      { name: 'max', typename: 'max-x86_64-cpu', 'unavailable-features': [] },
    ],
  };
}

export function run(cfg) {
  const args = process.argv.slice(2);
  const accel = (args[args.indexOf('-machine') + 1] ?? '').replace(/^none,accel=/, '');
  if (cfg.log) appendFileSync(cfg.log, `${JSON.stringify({ pid: process.pid, args })}\n`);
  if (cfg.pidFile) writeFileSync(cfg.pidFile, String(process.pid));
  switch (cfg.mode) {
    case 'exit':
      process.stderr.write('fake: could not initialize\n');
      process.exit(1);
      break;
    case 'hang':
      setInterval(() => {}, 1 << 30);
      return;
    case 'notqemu':
      process.stdout.write('Usage: frobnicate [OPTIONS] FILE\n');
      setInterval(() => {}, 1 << 30);
      return;
  }
  const replies = cfg.mode === 'replay' ? loadReplies(cfg.replies) : undefined;
  const answers = minimal(cfg, accel);
  const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
  out({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: '' }, capabilities: ['oob'] } });
  let count = 0;
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (!line.trim()) return;
    const msg = JSON.parse(line);
    const id = msg.id;
    count++;
    if (cfg.mode === 'crash' && count === (cfg.crashAfter ?? 3)) process.kill(process.pid, 'SIGSEGV');
    if (msg.execute === 'quit') {
      out({ return: {}, id });
      process.exit(0);
    }
    if (msg.execute === 'qmp_capabilities') return out({ return: {}, id });
    if (msg.execute === 'query-kvm') return out({ return: answers['query-kvm'], id });
    if (replies) {
      const list = replies.get(`${msg.execute} ${JSON.stringify(msg.arguments ?? {})}`);
      if (!list) return out({ error: { class: 'CommandNotFound', desc: `no ${msg.execute}` }, id });
      const r = accel === 'tcg' ? list[list.length - 1] : list[0];
      return out({ ...r, id });
    }
    if (msg.execute in answers) return out({ return: answers[msg.execute], id });
    if (msg.execute === 'device-list-properties' || msg.execute === 'qom-list-properties') {
      return out({ error: { class: 'DeviceNotFound', desc: `no ${msg.arguments?.typename}` }, id });
    }
    out({ error: { class: 'CommandNotFound', desc: `The command ${msg.execute} has not been found` }, id });
  });
  process.stdin.on('end', () => process.exit(0));
}
