/**
 * freepages and allocpages: virsh's cmdFreepages / cmdAllocpages (tools/virsh-host.c), the
 * host's page pools per NUMA cell, with virsh's option checks and output.
 */
import { type CommandDef, type ParsedOpts, usageError } from '../command.js';
import { print, reporting, withDriver } from '../driver-connection.js';
import { parseSize } from './storage-common.js';

const flag = (name: string, help: string) => ({ name, type: 'bool' as const, help });
/** A VSH_OT_INT option: given as `--name N` or positionally. */
const intOpt = (name: string, help: string, required = false) => ({
  name,
  type: 'data' as const,
  help,
  ...(required ? { required: true } : {}),
});

/** vshCommandOptInt / OptULongLong: virsh's error for a malformed number. */
function optInt(opts: ParsedOpts, name: string, unsigned = false): number | undefined {
  const v = opts[name];
  if (v === undefined || typeof v === 'boolean') return undefined;
  const ok = unsigned
    ? /^\+?\d+$/.test(v.trim())
    : /^[+-]?\d+$/.test(v.trim()) && Math.abs(Number(v)) < 2 ** 31;
  if (!ok) throw usageError(`Numeric value '${v}' for <${name}> option is malformed or out of range`);
  return Number(v);
}

/** vshCommandOptScaledInt(scale 1024) then VIR_DIV_UP(bytes, 1024): a page size in KiB. */
function pageSizeKiB(opts: ParsedOpts): number | undefined {
  const v = opts.pagesize;
  if (typeof v !== 'string') return undefined;
  const bytes = /^\d+$/.test(v.trim()) ? Number(v) * 1024 : parseSize(v, 'pagesize');
  return Math.ceil(bytes / 1024);
}

/** The host's part of the capabilities XML. */
const hostPart = (caps: string) => /<host>[\s\S]*?<\/host>/.exec(caps)?.[0] ?? '';
const cellsPart = (caps: string) => /<cells [\s\S]*?<\/cells>/.exec(hostPart(caps))?.[0] ?? '';

/** /capabilities/host/topology/cells/cell/@id */
const cellIds = (caps: string) => [...cellsPart(caps).matchAll(/<cell id='(\d+)'/g)].map((m) => Number(m[1]));

/** /capabilities/host/cpu/pages/@size, else the cells' (sorted, without duplicates, as virsh does). */
function pageSizes(caps: string): number[] {
  const cpu = /<cpu>[\s\S]*?<\/cpu>/.exec(hostPart(caps))?.[0] ?? '';
  const sizes = (text: string) => [...text.matchAll(/<pages [^>]*size='(\d+)'/g)].map((m) => Number(m[1]));
  let found = sizes(cpu);
  if (found.length === 0) found = sizes(cellsPart(caps));
  return [...new Set(found)].sort((a, b) => a - b);
}

const exclusive = (opts: ParsedOpts) => {
  if (opts.all && opts.cellno !== undefined)
    throw usageError('Options --all and --cellno are mutually exclusive');
};

export const freepagesCommand: CommandDef = {
  name: 'freepages',
  help: 'NUMA free pages',
  desc: 'display available free pages for the NUMA cell.',
  options: [
    intOpt('cellno', 'NUMA cell number'),
    intOpt('pagesize', 'page size (in kibibytes)'),
    flag('all', 'show free pages for all NUMA cells'),
  ],
  async run(session, opts) {
    exclusive(opts);
    const kib = pageSizeKiB(opts);
    await withDriver(session, async (c) => {
      if (opts.all) {
        const caps = await reporting(session.io, 'unable to get node capabilities', () =>
          c.connectGetCapabilities(),
        );
        const pages = kib !== undefined ? [kib] : pageSizes(caps);
        if (pages.length === 0) throw usageError('could not get information about supported page sizes');
        for (const cell of cellIds(caps)) {
          const counts = await c.nodeGetFreePages(pages, cell, 1, 0);
          print(
            session.io,
            `Node ${cell}:\n${pages.map((p, i) => `${p}KiB: ${counts[i] ?? 0}\n`).join('')}\n`,
          );
        }
        return;
      }
      if (opts.cellno === undefined) throw usageError('missing cellno argument');
      const cell = optInt(opts, 'cellno')!;
      if (cell < -1) throw usageError('cell number must be non-negative integer or -1');
      if (kib === undefined) throw usageError('missing pagesize argument');
      const [count = 0] = await c.nodeGetFreePages([kib], cell, 1, 0);
      print(session.io, `${kib}KiB: ${count}\n`);
    });
  },
};

export const allocpagesCommand: CommandDef = {
  name: 'allocpages',
  help: 'Manipulate pages pool size',
  desc: 'Allocate or free some pages in the pool for NUMA cell.',
  options: [
    intOpt('pagesize', 'page size (in kibibytes)', true),
    intOpt('pagecount', 'page count', true),
    intOpt('cellno', 'NUMA cell number'),
    flag('add', 'instead of setting new pool size add pages to it'),
    flag('all', 'set on all NUMA cells'),
  ],
  async run(session, opts) {
    exclusive(opts);
    const startCell = opts.cellno !== undefined ? optInt(opts, 'cellno')! : -1;
    const kib = pageSizeKiB(opts)!;
    const count = optInt(opts, 'pagecount', true)!;
    // VIR_NODE_ALLOC_PAGES_ADD (0) or _SET (1)
    const flags = opts.add ? 0 : 1;
    await withDriver(session, async (c) => {
      if (opts.all) {
        const caps = await reporting(session.io, 'unable to get node capabilities', () =>
          c.connectGetCapabilities(),
        );
        for (const cell of cellIds(caps)) await c.nodeAllocPages([kib], [count], cell, 1, flags);
      } else await c.nodeAllocPages([kib], [count], startCell, 1, flags);
      // silent, but for the blank line after every command
      print(session.io, '');
    });
  },
};
