/**
 * Memory and metadata of a domain, as libvirt 9.0's QEMU driver changes them:
 * qemuDomainSetMemoryFlags (the balloon for the live domain: QMP `balloon`; the config's
 * `<currentMemory>` and `<memory>`), virDomainSetMetadata / virDomainGetMetadata
 * (virDomainDefSetMetadata: title, description, an application's `<metadata>` element) with the
 * METADATA_CHANGE event, and the balloon's statistics period (qemuDomainSetMemoryStatsPeriod).
 */
import { type DomainDef, formatXml, parseXml, VirError, virCheckFlags, type XmlElement } from '@qvirt/core';
import {
  VIR_DOMAIN_AFFECT,
  VIR_DOMAIN_EVENT_ID,
  VIR_DOMAIN_MEM,
  VIR_DOMAIN_METADATA,
} from '@qvirt/core/hypervisor';
import { balloonPath } from './domain-stats.js';
import { affectedDefs, copyDef, type LiveDomain, operationInvalid } from './live-domain.js';
import { QmpCommandError } from './qmp.js';

const invalidArg = (msg: string) => new VirError('INVALID_ARG', 'qemu', `invalid argument: ${msg}`);

interface Scaled {
  value?: number;
  unit?: string;
}

/** A canonical definition's size in KiB (post-parse stores KiB). */
function kib(s: Scaled | undefined): number {
  if (!s?.value) return 0;
  const unit = (s.unit ?? 'KiB').toLowerCase();
  const mul: Record<string, number> = {
    b: 1 / 1024,
    bytes: 1 / 1024,
    k: 1,
    kib: 1,
    kb: 1000 / 1024,
    m: 1024,
    mib: 1024,
    g: 1024 ** 2,
    gib: 1024 ** 2,
    t: 1024 ** 3,
    tib: 1024 ** 3,
  };
  return Math.floor(Number(s.value) * (mul[unit] ?? 1));
}

/** virDomainDefGetMemoryTotal / cur_balloon of a definition, KiB. */
export function memoryOf(def: DomainDef): { max: number; cur: number } {
  const max = kib(def.memory as Scaled | undefined);
  const cur = def.currentMemory ? kib(def.currentMemory as Scaled) : max;
  return { max, cur };
}

function hasNuma(def: DomainDef): boolean {
  const numa = (def.cpu as { numa?: { cell?: unknown[] } } | undefined)?.numa;
  return (numa?.cell?.length ?? 0) > 0;
}

function hasBalloon(def: DomainDef): boolean {
  const b = (def.devices as { memballoon?: { model?: string } } | undefined)?.memballoon;
  return b !== undefined && b.model !== 'none';
}

/** qemuDomainSetMemoryFlags: `memory` KiB. */
export async function setMemoryFlags(dom: LiveDomain, memory: number, flags: number): Promise<void> {
  virCheckFlags(
    flags,
    VIR_DOMAIN_AFFECT.LIVE | VIR_DOMAIN_AFFECT.CONFIG | VIR_DOMAIN_MEM.MAXIMUM,
    'qemuDomainSetMemoryFlags',
  );
  const defs = affectedDefs(dom, flags);
  if (flags & VIR_DOMAIN_MEM.MAXIMUM) {
    if (defs.live) throw operationInvalid('cannot resize the maximum memory on an active domain');
    const config = copyDef(defs.config!);
    if (hasNuma(config)) {
      throw operationInvalid(
        'initial memory size of a domain with NUMA nodes cannot be modified with this API',
      );
    }
    const { cur } = memoryOf(config);
    config.memory = { ...(config.memory as object), value: memory, unit: 'KiB' } as DomainDef['memory'];
    if (cur > memory) config.currentMemory = { value: memory, unit: 'KiB' } as DomainDef['currentMemory'];
    await dom.saveConfig(config);
    return;
  }
  // the new balloon size must fit below the maximum of each definition it changes
  for (const def of [defs.live, defs.config]) {
    if (def && memory > memoryOf(def).max) throw invalidArg('cannot set memory higher than max memory');
  }
  if (defs.live) {
    if (!hasBalloon(defs.live)) {
      throw operationInvalid(
        'Unable to change memory of active domain without the balloon device and guest OS balloon driver',
      );
    }
    const mon = await dom.monitor();
    await mon.execute('balloon', { value: memory * 1024 });
    // cur_balloon is what the balloon holds, which the guest's driver moves in its own time
    // (BALLOON_CHANGE): what QEMU reports now, not what was asked
    const actual = await mon.execute<{ actual: number }>('query-balloon').catch(() => undefined);
    const live = copyDef(defs.live);
    const kibNow = actual ? Math.floor(actual.actual / 1024) : memoryOf(defs.live).cur;
    live.currentMemory = { value: kibNow, unit: 'KiB' } as DomainDef['currentMemory'];
    await dom.saveLive(live);
  }
  if (defs.config) {
    const config = copyDef(defs.config);
    config.currentMemory = { value: memory, unit: 'KiB' } as DomainDef['currentMemory'];
    await dom.saveConfig(config);
  }
}

/** The element of `<metadata>` in namespace `uri` (virXMLFindChildNodeByNs). */
function findByNs(metadata: XmlElement | undefined, uri: string): number {
  if (!metadata) return -1;
  return metadata.children.findIndex((c) => {
    if (typeof c === 'string') return false;
    const colon = c.name.indexOf(':');
    const attr = colon < 0 ? 'xmlns' : `xmlns:${c.name.slice(0, colon)}`;
    return c.attributes[attr] === uri;
  });
}

/** Puts `el` (and its descendants without a prefix) in namespace `key` = `uri` (xmlNewNs + xmlSetNs). */
function withNamespace(el: XmlElement, key: string, uri: string, top = true): XmlElement {
  const local = el.name.includes(':') ? el.name.slice(el.name.indexOf(':') + 1) : el.name;
  const attributes = Object.fromEntries(
    Object.entries(el.attributes).filter(([k]) => k !== 'xmlns' && !k.startsWith('xmlns:')),
  );
  return {
    name: top ? `${key}:${local}` : el.name.includes(':') ? el.name : `${key}:${el.name}`,
    attributes: top ? { [`xmlns:${key}`]: uri, ...attributes } : attributes,
    children: el.children.map((c) => (typeof c === 'string' ? c : withNamespace(c, key, uri, false))),
  };
}

/** virDomainSetMetadata's checks (libvirt-domain.c), then virDomainDefSetMetadata on `def`. */
function setDefMetadata(
  def: DomainDef,
  type: number,
  metadata: string | null,
  key: string | null,
  uri: string | null,
): void {
  const M = VIR_DOMAIN_METADATA;
  if (type === M.TITLE || type === M.DESCRIPTION) {
    const field = type === M.TITLE ? 'title' : 'description';
    if (metadata === null || metadata === '') delete (def as Record<string, unknown>)[field];
    else (def as Record<string, unknown>)[field] = metadata;
    return;
  }
  if (type !== M.ELEMENT)
    throw new VirError('INVALID_ARG', 'qemu', `invalid argument: unknown metadata type '${type}'`);
  const current = def.metadata as XmlElement | undefined;
  const kept = current
    ? { ...current, children: [...current.children] }
    : { name: 'metadata', attributes: {}, children: [] };
  for (let i = findByNs(kept, uri!); i >= 0; i = findByNs(kept, uri!)) kept.children.splice(i, 1);
  if (metadata !== null) {
    let el: XmlElement;
    try {
      el = parseXml(metadata, '(metadata_xml)', { keepCdata: 'everywhere' });
    } catch (err) {
      throw new VirError('XML_ERROR', 'qemu', (err as Error).message);
    }
    kept.children.push({ ...withNamespace(el, key!, uri!), layout: 'libxml2' });
  }
  if (kept.children.length === 0) delete (def as Record<string, unknown>).metadata;
  else def.metadata = kept as DomainDef['metadata'];
}

/** The public API's argument checks of virDomainSetMetadata (libvirt-domain.c). */
function checkMetadataArgs(
  type: number,
  metadata: string | null,
  key: string | null,
  uri: string | null,
): void {
  const M = VIR_DOMAIN_METADATA;
  const nonNull = (name: string) =>
    new VirError('INVALID_ARG', 'none', `invalid argument: ${name} in virDomainSetMetadata must not be NULL`);
  const mustNull = (name: string) =>
    new VirError('INVALID_ARG', 'none', `invalid argument: ${name} in virDomainSetMetadata must be NULL`);
  if (type === M.TITLE && metadata?.includes('\n')) {
    throw new VirError('INVALID_ARG', 'none', "invalid argument: metadata title can't contain newlines");
  }
  if (type === M.TITLE || type === M.DESCRIPTION) {
    if (uri !== null) throw mustNull('uri');
    if (key !== null) throw mustNull('key');
  } else if (type === M.ELEMENT) {
    if (uri === null) throw nonNull('uri');
    if (metadata !== null && key === null) throw nonNull('key');
  }
}

/** qemuDomainSetMetadata (virDomainObjSetMetadata) and its METADATA_CHANGE event. */
export async function setMetadata(
  dom: LiveDomain,
  type: number,
  metadata: string | null,
  key: string | null,
  uri: string | null,
  flags: number,
): Promise<void> {
  virCheckFlags(flags, VIR_DOMAIN_AFFECT.LIVE | VIR_DOMAIN_AFFECT.CONFIG, 'qemuDomainSetMetadata');
  checkMetadataArgs(type, metadata, key, uri);
  const defs = affectedDefs(dom, flags);
  if (defs.live) {
    const live = copyDef(defs.live);
    setDefMetadata(live, type, metadata, key, uri);
    await dom.saveLive(live);
  }
  if (defs.config) {
    const config = copyDef(defs.config);
    setDefMetadata(config, type, metadata, key, uri);
    await dom.saveConfig(config);
  }
  dom.emit({ eventID: VIR_DOMAIN_EVENT_ID.METADATA_CHANGE, type, nsuri: uri });
}

/** virDomainGetMetadata (virDomainDefGetMetadata). */
export function getMetadata(dom: LiveDomain, type: number, uri: string | null, flags: number): string {
  virCheckFlags(flags, VIR_DOMAIN_AFFECT.LIVE | VIR_DOMAIN_AFFECT.CONFIG, 'qemuDomainGetMetadata');
  const defs = affectedDefs(dom, flags);
  if (defs.live && defs.config) {
    throw new VirError(
      'INVALID_ARG',
      'qemu',
      "invalid argument: flags 'affect live' and 'affect config' in virDomainObjGetOneDefState are mutually exclusive",
    );
  }
  const def = (defs.live ?? defs.config)!;
  const M = VIR_DOMAIN_METADATA;
  let text: string | undefined;
  if (type === M.TITLE || type === M.DESCRIPTION) {
    const field = type === M.TITLE ? def.title : def.description;
    text = typeof field === 'string' ? field : (field as { value?: string } | undefined)?.value;
    if (text === '') text = undefined;
  } else if (type === M.ELEMENT) {
    const md = def.metadata as XmlElement | undefined;
    const i = uri === null ? -1 : findByNs(md, uri);
    if (i >= 0) text = formatXml(md!.children[i] as XmlElement, 0, 'libxml2').trimEnd();
  } else {
    throw new VirError('INVALID_ARG', 'qemu', `invalid argument: unknown metadata type '${type}'`);
  }
  if (text === undefined) {
    throw new VirError(
      'NO_DOMAIN_METADATA',
      'domain',
      'metadata not found: Requested metadata element is not present',
    );
  }
  return text;
}

/** virDomainDefHasMemballoon: a balloon of a model other than none. */
function hasMemballoon(def: DomainDef): boolean {
  const b = def.devices?.memballoon;
  return !!b && b.model !== 'none';
}

/** `<stats period='N'/>` of the balloon, gone for 0 (virDomainMemballoonDefFormat). */
function withStatsPeriod(def: DomainDef, period: number): DomainDef {
  const next = copyDef(def);
  const balloon = next.devices!.memballoon!;
  if (period) balloon.stats = { period };
  else delete balloon.stats;
  return next;
}

/**
 * qemuDomainSetMemoryStatsPeriod: how often the guest's balloon driver reports its statistics
 * (QEMU's `guest-stats-polling-interval` on the balloon, qemuMonitorSetMemoryStatsPeriod), live
 * and/or in the config's `<stats period>`.
 */
export async function setMemoryStatsPeriod(dom: LiveDomain, period: number, flags: number): Promise<void> {
  const A = VIR_DOMAIN_AFFECT;
  virCheckFlags(flags, A.LIVE | A.CONFIG, 'qemuDomainSetMemoryStatsPeriod');
  const defs = affectedDefs(dom, flags);
  const noBalloon = () =>
    new VirError(
      'INTERNAL_ERROR',
      'qemu',
      'internal error: No memory balloon device configured, can not set the collection period',
    );
  if (defs.live) {
    if (!hasMemballoon(defs.live)) throw noBalloon();
    const path = balloonPath(defs.live);
    // qemuMonitorSetMemoryStatsPeriod: a negative period, no balloon object or QEMU's refusal
    // all end in the one message
    let set = false;
    if (period >= 0 && path) {
      const mon = await dom.monitor();
      set = await mon
        .execute('qom-set', { path, property: 'guest-stats-polling-interval', value: period })
        .then(
          () => true,
          (err: unknown) => {
            if (err instanceof QmpCommandError) return false;
            throw err;
          },
        );
    }
    if (!set) throw operationInvalid('unable to set balloon driver collection period');
    await dom.saveLive(withStatsPeriod(defs.live, period));
  }
  if (defs.config) {
    if (!hasMemballoon(defs.config)) throw noBalloon();
    await dom.saveConfig(withStatsPeriod(defs.config, period));
  }
}

/**
 * qemuProcessSetupBalloon's period: a definition's `<stats period>` set on QEMU's balloon at
 * start (qemuMonitorSetMemoryStatsPeriod: a failure is not the start's).
 */
export async function setupBalloonPeriod(
  def: DomainDef,
  mon: { execute(cmd: string, args?: Record<string, unknown>): Promise<unknown> },
): Promise<void> {
  const period = def.devices?.memballoon?.stats?.period;
  const path = balloonPath(def);
  if (!period || period < 0 || !hasMemballoon(def) || !path) return;
  await mon
    .execute('qom-set', { path, property: 'guest-stats-polling-interval', value: period })
    .catch(() => {});
}
