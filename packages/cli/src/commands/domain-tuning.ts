/**
 * virsh's tuning and small live commands (virsh-domain.c, virsh-domain-monitor.c): memtune,
 * blkiotune, numatune, iothreadinfo, iothreadpin, iothreadadd, iothreaddel, send-key,
 * screenshot, inject-nmi, domblkerror. Output and refusals as virsh 9.0 prints them.
 */
import { open } from 'node:fs/promises';
import { VirError } from '@qvirt/core/errors';
import {
  type TypedParam,
  VIR_TYPED_PARAM,
  virKeycodeSetTypeFromString,
  virKeycodeValueFromString,
} from '@qvirt/core/hypervisor';
import { type CommandDef, type OptDef, optionList, type ParsedOpts, usageError } from '../command.js';
import {
  type Connection,
  DOMAIN_OPT,
  lookupDomain,
  print,
  reporting,
  withDriver,
} from '../driver-connection.js';
import { affectFlags, formatMap, hostCpus, parseCpuList, typedParamText } from './domain-resources.js';
import { formatTable } from './list.js';
import { parseSize } from './storage-common.js';

const T = VIR_TYPED_PARAM;
const flag = (name: string, help: string): OptDef => ({ name, type: 'bool', help });
const str = (name: string, help: string): OptDef => ({ name, type: 'string', help });
const AFFECT_OPTS: OptDef[] = [
  flag('config', 'affect next boot'),
  flag('live', 'affect running domain'),
  flag('current', 'affect current domain'),
];
/** VIR_DOMAIN_MEMORY_PARAM_UNLIMITED */
const UNLIMITED = 9007199254740991;

/** vshCommandOptInt / OptUInt: undefined when absent, virsh's error when malformed. */
function intOpt(opts: ParsedOpts, name: string, unsigned = false): number | undefined {
  const v = opts[name];
  if (v === undefined || typeof v === 'boolean') return undefined;
  const n = /^[-+]?(0x[0-9a-f]+|\d+)$/i.test(v.trim()) ? Number(v.trim()) : Number.NaN;
  if (!Number.isInteger(n) || (unsigned && n < 0) || Math.abs(n) > 0xffffffff)
    throw usageError(`Numeric value '${v}' for <${name}> option is malformed or out of range`);
  return n;
}

/** "%-15s: %s" lines (the typed-parameter listings of memtune, blkiotune, numatune). */
const paramLines = (params: TypedParam[], text: (p: TypedParam) => string) =>
  params.map((p) => `${p.field.padEnd(15)}: ${text(p)}\n`).join('');

/** The shared get-or-set shape of memtune, blkiotune and numatune. */
async function getOrSet(
  conn: Connection,
  session: Parameters<CommandDef['run']>[0],
  opts: ParsedOpts,
  what: 'memory' | 'blkio' | 'numa',
  params: TypedParam[],
  text: (p: TypedParam) => string,
): Promise<void> {
  const flags = affectFlags(opts);
  const dom = await lookupDomain(conn, opts.domain as string);
  const api = {
    memory: [conn.domainGetMemoryParameters, conn.domainSetMemoryParameters],
    blkio: [conn.domainGetBlkioParameters, conn.domainSetBlkioParameters],
    numa: [conn.domainGetNumaParameters, conn.domainSetNumaParameters],
  } as const;
  const [get, set] = api[what];
  if (params.length) {
    await reporting(session.io, `Unable to change ${what} parameters`, () =>
      set.call(conn, dom, params, flags),
    );
    print(session.io, '');
    return;
  }
  // virsh asks how many first; numatune's message says "memory" (as virsh's does)
  const countWhat = what === 'numa' ? 'memory' : what;
  const n = await reporting(session.io, `Unable to get number of ${countWhat} parameters`, () =>
    get.call(conn, dom, 0, flags),
  );
  if (n.nparams === 0) {
    print(session.io, '');
    return;
  }
  const got = await reporting(session.io, `Unable to get ${what} parameters`, () =>
    get.call(conn, dom, n.nparams, flags),
  );
  print(session.io, paramLines(got.params, text));
}

/** virshMemtuneGetSize: KiB (scaled suffixes allowed), a negative value meaning unlimited. */
function memtuneSize(opts: ParsedOpts, name: string): number | undefined {
  const v = opts[name];
  if (typeof v !== 'string') return undefined;
  const m = /^(-?\d+)([a-zA-Z]*)$/.exec(v);
  const bad = () => usageError(`Unable to parse integer parameter ${name}`);
  if (!m) throw bad();
  const n = Number(m[1]);
  if (n < 0) return UNLIMITED;
  const units: Record<string, number> = {
    '': 1024,
    b: 1,
    k: 1024,
    kib: 1024,
    m: 1024 ** 2,
    mib: 1024 ** 2,
    g: 1024 ** 3,
    gib: 1024 ** 3,
    t: 1024 ** 4,
    tib: 1024 ** 4,
    kb: 1000,
    mb: 1e6,
    gb: 1e9,
    tb: 1e12,
  };
  const mul = units[m[2]!.toLowerCase()];
  if (mul === undefined) throw bad();
  return Math.ceil((n * mul) / 1024);
}

export const memtuneCommand: CommandDef = {
  name: 'memtune',
  help: 'Get or set memory parameters',
  desc: 'Get or set the current memory parameters for a guest domain.\n    To get the memory parameters use following command: \n\n    virsh # memtune <domain>',
  options: [
    DOMAIN_OPT,
    str('hard-limit', 'Max memory, as scaled integer (default KiB)'),
    str('soft-limit', 'Memory during contention, as scaled integer (default KiB)'),
    str('swap-hard-limit', 'Max memory plus swap, as scaled integer (default KiB)'),
    str('min-guarantee', 'Min guaranteed memory, as scaled integer (default KiB)'),
    ...AFFECT_OPTS,
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const params: TypedParam[] = [];
      for (const [opt, field] of [
        ['hard-limit', 'hard_limit'],
        ['soft-limit', 'soft_limit'],
        ['swap-hard-limit', 'swap_hard_limit'],
        ['min-guarantee', 'min_guarantee'],
      ] as const) {
        const v = memtuneSize(opts, opt);
        if (v !== undefined) params.push({ field, type: T.ULLONG, value: v });
      }
      await getOrSet(conn, session, opts, 'memory', params, (p) =>
        p.type === T.ULLONG && p.value === UNLIMITED ? 'unlimited' : typedParamText(p),
      );
    });
  },
};

export const blkiotuneCommand: CommandDef = {
  name: 'blkiotune',
  help: 'Get or set blkio parameters',
  desc: 'Get or set the current blkio parameters for a guest domain.\n    To get the blkio parameters use following command: \n\n    virsh # blkiotune <domain>',
  options: [
    DOMAIN_OPT,
    str('weight', 'IO Weight'),
    str('device-weights', 'per-device IO Weights, in the form of /path/to/device,weight,...'),
    str(
      'device-read-iops-sec',
      'per-device read I/O limit per second, in the form of /path/to/device,read_iops_sec,...',
    ),
    str(
      'device-write-iops-sec',
      'per-device write I/O limit per second, in the form of /path/to/device,write_iops_sec,...',
    ),
    str(
      'device-read-bytes-sec',
      'per-device bytes read per second, in the form of /path/to/device,read_bytes_sec,...',
    ),
    str(
      'device-write-bytes-sec',
      'per-device bytes wrote per second, in the form of /path/to/device,write_bytes_sec,...',
    ),
    ...AFFECT_OPTS,
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const params: TypedParam[] = [];
      const weight = intOpt(opts, 'weight');
      if (weight !== undefined) {
        if (weight <= 0) throw usageError(`Invalid value of ${weight} for I/O weight`);
        params.push({ field: 'weight', type: T.UINT, value: weight });
      }
      for (const [opt, field] of [
        ['device-weights', 'device_weight'],
        ['device-read-iops-sec', 'device_read_iops_sec'],
        ['device-write-iops-sec', 'device_write_iops_sec'],
        ['device-read-bytes-sec', 'device_read_bytes_sec'],
        ['device-write-bytes-sec', 'device_write_bytes_sec'],
      ] as const) {
        const v = opts[opt];
        if (typeof v === 'string') params.push({ field, type: T.STRING, value: v });
      }
      await getOrSet(conn, session, opts, 'blkio', params, typedParamText);
    });
  },
};

const NUMA_MODES = ['strict', 'preferred', 'interleave', 'restrictive'];

export const numatuneCommand: CommandDef = {
  name: 'numatune',
  help: 'Get or set numa parameters',
  desc: 'Get or set the current numa parameters for a guest domain.\n    To get the numa parameters use following command: \n\n    virsh # numatune <domain>',
  options: [
    DOMAIN_OPT,
    str(
      'mode',
      'NUMA mode, one of strict, preferred and interleave \nor a number from the virDomainNumatuneMemMode enum',
    ),
    str('nodeset', 'NUMA node selections to set'),
    ...AFFECT_OPTS,
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const params: TypedParam[] = [];
      if (typeof opts.nodeset === 'string')
        params.push({ field: 'numa_nodeset', type: T.STRING, value: opts.nodeset });
      if (typeof opts.mode === 'string') {
        let m = NUMA_MODES.indexOf(opts.mode);
        if (m < 0) {
          m = /^[-+]?(0x[0-9a-f]+|\d+)$/i.test(opts.mode) ? Number(opts.mode) : Number.NaN;
          if (!Number.isInteger(m)) throw usageError(`Invalid mode: ${opts.mode}`);
        }
        params.push({ field: 'numa_mode', type: T.INT, value: m });
      }
      await getOrSet(conn, session, opts, 'numa', params, (p) =>
        p.type === T.INT && p.field === 'numa_mode'
          ? (NUMA_MODES[p.value as number] ?? '')
          : typedParamText(p),
      );
    });
  },
};

export const iothreadinfoCommand: CommandDef = {
  name: 'iothreadinfo',
  help: 'view domain IOThreads',
  desc: 'Returns basic information about the domain IOThreads.',
  options: [DOMAIN_OPT, ...AFFECT_OPTS],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const flags = affectFlags(opts);
      const dom = await lookupDomain(conn, opts.domain as string);
      const got = await reporting(session.io, 'Unable to get domain IOThreads information', () =>
        conn.domainGetIOThreadInfo(dom, flags),
      );
      if (got.ret === 0) {
        // vshPrintExtra without a newline, then the command's blank line
        print(session.io, 'No IOThreads found for the domain');
        return;
      }
      const rows = got.info.map((t) => [String(t.iothread_id), formatMap(t.cpumap)]);
      print(session.io, formatTable(['IOThread ID', 'CPU Affinity'], rows));
    });
  },
};

export const iothreadpinCommand: CommandDef = {
  name: 'iothreadpin',
  help: 'control domain IOThread affinity',
  desc: 'Pin domain IOThreads to host physical CPUs.',
  options: [
    DOMAIN_OPT,
    { name: 'iothread', type: 'data', required: true, help: 'IOThread ID number' },
    { name: 'cpulist', type: 'data', required: true, help: 'host cpu number(s) to set' },
    ...AFFECT_OPTS,
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const flags = affectFlags(opts);
      const dom = await lookupDomain(conn, opts.domain as string);
      const id = intOpt(opts, 'iothread', true)!;
      const map = parseCpuList(opts.cpulist as string, await hostCpus(conn));
      await conn.domainPinIOThread(dom, id, map, flags);
      print(session.io, '');
    });
  },
};

function iothreadChange(name: 'iothreadadd' | 'iothreaddel'): CommandDef {
  const add = name === 'iothreadadd';
  return {
    name,
    help: add ? 'add an IOThread to the guest domain' : 'delete an IOThread from the guest domain',
    desc: add ? 'Add an IOThread to the guest domain.' : 'Delete an IOThread from the guest domain.',
    options: [
      DOMAIN_OPT,
      {
        name: 'id',
        type: 'data',
        required: true,
        help: add ? 'iothread for the new IOThread' : 'iothread_id for the IOThread to delete',
      },
      ...AFFECT_OPTS,
    ],
    async run(session, opts) {
      await withDriver(session, async (conn) => {
        const flags = affectFlags(opts);
        const dom = await lookupDomain(conn, opts.domain as string);
        const id = intOpt(opts, 'id')!;
        if (id <= 0) throw usageError(`Invalid IOThread id value: '${id}'`);
        if (add) await conn.domainAddIOThread(dom, id, flags);
        else await conn.domainDelIOThread(dom, id, flags);
        print(session.io, '');
      });
    },
  };
}
export const iothreadsetCommand: CommandDef = {
  name: 'iothreadset',
  help: 'modifies an existing IOThread of the guest domain',
  desc: 'Modifies an existing IOThread of the guest domain.',
  options: [
    DOMAIN_OPT,
    { name: 'id', type: 'data', required: true, help: 'iothread id of existing IOThread' },
    str('poll-max-ns', 'set the maximum IOThread polling time in ns'),
    str('poll-grow', 'set the value to increase the IOThread polling time'),
    str('poll-shrink', 'set the value for reduction of the IOThread polling time'),
    str('thread-pool-min', 'lower boundary for worker thread pool'),
    str('thread-pool-max', 'upper boundary for worker thread pool'),
    ...AFFECT_OPTS,
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const flags = affectFlags(opts);
      const dom = await lookupDomain(conn, opts.domain as string);
      const id = intOpt(opts, 'id')!;
      if (id <= 0) throw usageError(`Invalid IOThread id value: '${id}'`);
      const params: TypedParam[] = [];
      for (const [opt, type, unsigned] of [
        ['poll-max-ns', T.ULLONG, true],
        ['poll-grow', T.UINT, true],
        ['poll-shrink', T.UINT, true],
        ['thread-pool-min', T.INT, false],
        ['thread-pool-max', T.INT, false],
      ] as const) {
        const v = intOpt(opts, opt, unsigned);
        if (v !== undefined) params.push({ field: opt.replace(/-/g, '_'), type, value: v });
      }
      if (params.length === 0) throw usageError('Not enough arguments passed, nothing to set');
      await conn.domainSetIOThreadParams(dom, id, params, flags);
      print(session.io, '');
    });
  },
};

export const iothreadaddCommand = iothreadChange('iothreadadd');
export const iothreaddelCommand = iothreadChange('iothreaddel');

/** virStrToLong_uip(…, 0): hex with 0x, octal with a leading 0, else decimal. */
function strToUintBase0(word: string): number | undefined {
  if (/^0x[0-9a-f]+$/i.test(word)) return Number.parseInt(word.slice(2), 16);
  if (/^0[0-7]*$/.test(word)) return Number.parseInt(word, 8);
  if (/^[1-9]\d*$/.test(word)) return Number(word);
  return undefined;
}

/** VIR_DOMAIN_SEND_KEY_MAX_KEYS */
const SEND_KEY_MAX = 16;

export const sendKeyCommand: CommandDef = {
  name: 'send-key',
  help: 'Send keycodes to the guest',
  desc: 'Send keycodes (integers or symbolic names) to the guest',
  options: [
    DOMAIN_OPT,
    str('codeset', 'the codeset of keycodes, default:linux'),
    str('holdtime', 'the time (in milliseconds) how long the keys will be held'),
    { name: 'keycode', type: 'data', required: true, multiple: true, help: 'the key code' },
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      let codesetName = typeof opts.codeset === 'string' ? opts.codeset : 'linux';
      const holdtime = intOpt(opts, 'holdtime', true) ?? 0;
      // the qnum codeset was first called rfb (virsh keeps the old name)
      if (codesetName === 'rfb') codesetName = 'qnum';
      const codeset = virKeycodeSetTypeFromString(codesetName);
      if (codeset < 0) throw usageError(`unknown codeset: '${codesetName}'`);
      const codes: number[] = [];
      for (const word of optionList(opts, 'keycode')) {
        if (codes.length === SEND_KEY_MAX) throw usageError('too many keycodes');
        // virshKeyCodeGetInt: a number (any base) up to 0xffff, else a name of the codeset
        let code = strToUintBase0(word);
        if (code === undefined || code > 0xffff) code = virKeycodeValueFromString(codeset, word);
        if (code < 0) throw usageError(`invalid keycode: '${word}'`);
        codes.push(code);
      }
      await conn.domainSendKey(dom, codeset, holdtime, codes, 0);
      print(session.io, '');
    });
  },
};

/** virshGenFileName: NAME-YYYY-MM-DD-HH:MM:SS with the MIME type's extension (local time). */
function genFileName(name: string, mime: string): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  const now = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  const ext = mime === 'image/x-portable-pixmap' ? '.ppm' : mime === 'image/png' ? '.png' : '';
  return `${name}-${now}${ext}`;
}

export const screenshotCommand: CommandDef = {
  name: 'screenshot',
  help: 'take a screenshot of a current domain console and store it into a file',
  desc: 'screenshot of a current domain console',
  options: [
    DOMAIN_OPT,
    { name: 'file', type: 'data', help: 'where to store the screenshot' },
    str('screen', 'ID of a screen to take screenshot of'),
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const screen = intOpt(opts, 'screen', true) ?? 0;
      const dom = await lookupDomain(conn, opts.domain as string);
      const st = await reporting(session.io, `could not take a screenshot of ${dom.name}`, () =>
        conn.domainScreenshot(dom, screen, 0),
      );
      const file = typeof opts.file === 'string' ? opts.file : genFileName(dom.name, st.mime);
      let fh: Awaited<ReturnType<typeof open>>;
      try {
        fh = await open(file, 'w', 0o666);
      } catch {
        await st.abort().catch(() => {});
        throw new VirError('OPERATION_FAILED', 'none', `cannot create file ${file}`);
      }
      try {
        for (;;) {
          const c = await st.recv();
          if (c === null) break;
          if ('data' in c) await fh.write(c.data);
        }
      } catch (err) {
        session.io.err(`error: could not receive data from domain '${dom.name}'\n`);
        throw err;
      } finally {
        await fh.close();
      }
      await st.finish();
      print(session.io, `Screenshot saved to ${file}, with type of ${st.mime}`);
    });
  },
};

export const injectNmiCommand: CommandDef = {
  name: 'inject-nmi',
  help: 'Inject NMI to the guest',
  desc: 'Inject NMI to the guest domain.',
  options: [DOMAIN_OPT],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      await conn.domainInjectNMI(dom, 0);
      print(session.io, '');
    });
  },
};

/** virshDomainIOError. */
const IO_ERRORS = ['no error', 'unspecified error', 'no space'];

export const domblkerrorCommand: CommandDef = {
  name: 'domblkerror',
  help: 'Show errors on block devices',
  desc: 'Show block device errors',
  options: [DOMAIN_OPT],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      let { nerrors: count } = await conn.domainGetDiskErrors(dom, 0, 0);
      let errors: Array<{ disk: string; error: number }> = [];
      if (count > 0) ({ errors, nerrors: count } = await conn.domainGetDiskErrors(dom, count, 0));
      print(
        session.io,
        count === 0
          ? 'No errors found\n'
          : errors.map((e) => `${e.disk}: ${IO_ERRORS[e.error] ?? 'unknown error'}\n`).join(''),
      );
    });
  },
};

/** vshCommandOptScaledInt with `scale` as the unit of a bare number. */
function scaled(opts: ParsedOpts, name: string, scale: number): number | undefined {
  const v = opts[name];
  if (typeof v !== 'string') return undefined;
  return /^\d+$/.test(v.trim()) ? Number(v) * scale : parseSize(v, name);
}

export const blockresizeCommand: CommandDef = {
  name: 'blockresize',
  help: 'Resize block device of domain.',
  desc: 'Resize block device of domain.',
  options: [
    DOMAIN_OPT,
    { name: 'path', type: 'data', required: true, help: 'Fully-qualified path of block device' },
    {
      name: 'size',
      type: 'data',
      required: true,
      help: 'New size of the block device, as scaled integer (default KiB)',
    },
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const path = opts.path as string;
      let size = scaled(opts, 'size', 1024)!;
      // virsh prefers the older interface of KiB
      let flags = 0;
      if (size % 1024 === 0) size /= 1024;
      else flags = 1;
      const dom = await lookupDomain(conn, opts.domain as string);
      await reporting(session.io, `Failed to resize block device '${path}'`, () =>
        conn.domainBlockResize(dom, path, size, flags),
      );
      print(session.io, `Block device '${path}' is resized`);
    });
  },
};

const IOTUNE_SCALED = [
  'total-bytes-sec',
  'read-bytes-sec',
  'write-bytes-sec',
  'total-bytes-sec-max',
  'read-bytes-sec-max',
  'write-bytes-sec-max',
];
const IOTUNE_PLAIN = [
  'total-iops-sec',
  'read-iops-sec',
  'write-iops-sec',
  'total-iops-sec-max',
  'read-iops-sec-max',
  'write-iops-sec-max',
  'size-iops-sec',
  'total-bytes-sec-max-length',
  'read-bytes-sec-max-length',
  'write-bytes-sec-max-length',
  'total-iops-sec-max-length',
  'read-iops-sec-max-length',
  'write-iops-sec-max-length',
];

export const blkdeviotuneCommand: CommandDef = {
  name: 'blkdeviotune',
  help: 'Set or query a block device I/O tuning parameters.',
  desc: 'Set or query disk I/O parameters such as block throttling.',
  options: [
    DOMAIN_OPT,
    { name: 'device', type: 'data', required: true, help: 'block device' },
    ...[...IOTUNE_SCALED, ...IOTUNE_PLAIN].map((n) => str(n, n.replace(/-/g, ' '))),
    str('group-name', 'group name to share I/O quota between multiple drives'),
    ...AFFECT_OPTS,
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const flags = affectFlags(opts);
      const dom = await lookupDomain(conn, opts.domain as string);
      const disk = opts.device as string;
      const params: TypedParam[] = [];
      const add = (name: string, value: number | undefined) => {
        if (value !== undefined) params.push({ field: name.replace(/-/g, '_'), type: T.ULLONG, value });
      };
      try {
        for (const n of IOTUNE_SCALED) add(n, scaled(opts, n, 1));
        for (const n of IOTUNE_PLAIN) add(n, intOpt(opts, n, true));
      } catch (err) {
        session.io.err('error: Unable to parse integer parameter\n');
        throw err;
      }
      if (typeof opts['group-name'] === 'string')
        params.push({ field: 'group_name', type: T.STRING, value: opts['group-name'] });
      if (params.length) {
        await reporting(session.io, 'Unable to change block I/O throttle', () =>
          conn.domainSetBlockIoTune(dom, disk, params, flags),
        );
        print(session.io, '');
        return;
      }
      const n = await reporting(session.io, 'Unable to get number of block I/O throttle parameters', () =>
        conn.domainGetBlockIoTune(dom, null, 0, flags),
      );
      const got = await reporting(session.io, 'Unable to get block I/O throttle parameters', () =>
        conn.domainGetBlockIoTune(dom, disk, n.nparams, flags),
      );
      print(session.io, paramLines(got.params, typedParamText));
    });
  },
};

export const perfCommand: CommandDef = {
  name: 'perf',
  help: 'Get or set perf event',
  desc: 'Get or set the current perf events for a guest domain.\n    To get the perf events list use following command: \n\n    virsh # perf <domain>',
  options: [
    DOMAIN_OPT,
    str('enable', 'perf events which will be enabled'),
    str('disable', 'perf events which will be disabled'),
    ...AFFECT_OPTS,
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const flags = affectFlags(opts);
      const dom = await lookupDomain(conn, opts.domain as string);
      // virshParseEventStr: comma-separated names, empty ones skipped
      const params: TypedParam[] = [];
      for (const [opt, on] of [
        ['enable', true],
        ['disable', false],
      ] as const) {
        const v = opts[opt];
        if (typeof v === 'string')
          for (const name of v.split(',')) if (name) params.push({ field: name, type: T.BOOLEAN, value: on });
      }
      const status = (ps: TypedParam[]) =>
        ps
          .map((p) => `${p.field.padEnd(15)}: ${p.type === T.BOOLEAN && p.value ? 'enabled' : 'disabled'}\n`)
          .join('');
      if (params.length === 0) {
        const got = await reporting(session.io, 'Unable to get perf events', () =>
          conn.domainGetPerfEvents(dom, flags),
        );
        print(session.io, status(got));
        return;
      }
      await reporting(session.io, 'Unable to enable/disable perf events', () =>
        conn.domainSetPerfEvents(dom, params, flags),
      );
      print(session.io, status(params));
    });
  },
};

const LIFECYCLE_TYPES = ['poweroff', 'reboot', 'crash'];
const LIFECYCLE_ACTIONS = [
  'destroy',
  'restart',
  'rename-restart',
  'preserve',
  'coredump-destroy',
  'coredump-restart',
];

export const setLifecycleActionCommand: CommandDef = {
  name: 'set-lifecycle-action',
  help: 'change lifecycle actions',
  desc: 'Change lifecycle actions for the guest domain.',
  options: [
    DOMAIN_OPT,
    { name: 'type', type: 'data', required: true, help: 'lifecycle type to modify' },
    { name: 'action', type: 'data', required: true, help: 'lifecycle action to set' },
    ...AFFECT_OPTS,
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const flags = affectFlags(opts);
      const type = LIFECYCLE_TYPES.indexOf(opts.type as string);
      if (type < 0) throw usageError(`Invalid lifecycle type '${opts.type}'.`);
      const action = LIFECYCLE_ACTIONS.indexOf(opts.action as string);
      if (action < 0) throw usageError(`Invalid lifecycle action '${opts.action}'.`);
      const dom = await lookupDomain(conn, opts.domain as string);
      await reporting(session.io, 'Unable to change lifecycle action.', () =>
        conn.domainSetLifecycleAction(dom, type, action, flags),
      );
      print(session.io, '');
    });
  },
};

export const TUNING_COMMANDS: CommandDef[] = [
  setLifecycleActionCommand,
  perfCommand,
  blkdeviotuneCommand,
  blockresizeCommand,
  blkiotuneCommand,
  domblkerrorCommand,
  injectNmiCommand,
  iothreadaddCommand,
  iothreaddelCommand,
  iothreadinfoCommand,
  iothreadpinCommand,
  iothreadsetCommand,
  memtuneCommand,
  numatuneCommand,
  screenshotCommand,
  sendKeyCommand,
];
