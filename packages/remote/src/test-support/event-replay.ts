/**
 * Replays tools/event-sequences/scenarios.json against a qvirt connection and names the events
 * it gets exactly as tools/event-sequences/record.py names libvirt's, so a test compares them
 * with the recording (tools/event-sequences/recorded/libvirt-9.0.0.json) segment by segment.
 * The steps are the recorder's, one contract call each; the waits too (the guest's `ready`
 * reports on its serial log, an event seen).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import {
  type DomainEvent,
  type HypervisorDriver,
  VIR_DOMAIN_EVENT,
  VIR_DOMAIN_EVENT_DETAIL,
  VIR_DOMAIN_EVENT_ID,
  VIR_DOMAIN_EVENT_ID_LAST,
} from '@qvirt/core/hypervisor';
import type { TestGuest } from '@qvirt/test-guest';

const TOOLS = path.resolve(import.meta.dirname, '../../../../tools/event-sequences');

export type Step = [string, ...(string | number | null)[]];
export interface Segment {
  name: string;
  steps: Step[];
}
export interface Scenario {
  name: string;
  guest: 'full' | 'actions';
  action?: string;
  extra?: string;
  pm?: boolean;
  on: [string, string, string];
  segments: Segment[];
}
export type Entry = unknown[];
/** The power-management calls, which not every driver has yet. */
interface PM {
  domainPMSuspendForDuration(dom: unknown, target: number, duration: number, flags: number): Promise<void>;
  domainPMWakeup(dom: unknown, flags: number): Promise<void>;
}

export const SCENARIOS = JSON.parse(readFileSync(path.join(TOOLS, 'scenarios.json'), 'utf8')) as {
  templates: Record<string, string>;
  scenarios: Scenario[];
};

const RECORDING = path.join(TOOLS, 'recorded/libvirt-9.0.0.json');
/** libvirt 9.0's sequences by scenario and segment, or undefined where none was recorded. */
export const RECORDED: Record<string, Record<string, Entry[]>> | undefined = existsSync(RECORDING)
  ? JSON.parse(readFileSync(RECORDING, 'utf8')).scenarios
  : undefined;

export function scenario(name: string): Scenario {
  return SCENARIOS.scenarios.find((s) => s.name === name)!;
}

/**
 * build-actions.sh's archive (the guest that powers off, reboots or panics on its own), or
 * undefined when it was not built: it is made from the guest kernel's Debian package, which a
 * test does not fetch.
 */
export function actionsArchive(): string | undefined {
  try {
    const out = execFileSync(path.join(TOOLS, 'build-actions.sh'), ['--cached'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return existsSync(out) ? out : undefined;
  } catch {
    return undefined;
  }
}

const byValue = (o: Record<string, number>, v: number | undefined) =>
  Object.entries(o).find(([, x]) => x === v)?.[0] ?? v;
const ID_NAMES = Object.fromEntries(Object.entries(VIR_DOMAIN_EVENT_ID).map(([k, v]) => [v, k]));
/** virConnectDomainEventTrayChangeReason, virConnectDomainEventAgentLifecycleState / Reason. */
const TRAY = { OPEN: 0, CLOSE: 1 };
const AGENT_STATE = { CONNECTED: 1, DISCONNECTED: 2 };
const AGENT_REASON = { UNKNOWN: 0, DOMAIN_STARTED: 1, CHANNEL: 2 };

/** An event as record.py's `entry` names it. */
export function entry(e: DomainEvent): Entry {
  const name = ID_NAMES[e.eventID]!;
  const x = e as DomainEvent & Record<string, unknown>;
  switch (e.eventID) {
    case VIR_DOMAIN_EVENT_ID.LIFECYCLE: {
      const type = byValue(VIR_DOMAIN_EVENT, e.event) as keyof typeof VIR_DOMAIN_EVENT_DETAIL;
      return [name, type, byValue(VIR_DOMAIN_EVENT_DETAIL[type] as Record<string, number>, e.detail)];
    }
    case VIR_DOMAIN_EVENT_ID.REBOOT:
    case VIR_DOMAIN_EVENT_ID.PMSUSPEND:
    case VIR_DOMAIN_EVENT_ID.PMWAKEUP:
    case VIR_DOMAIN_EVENT_ID.PMSUSPEND_DISK:
      return [name];
    case VIR_DOMAIN_EVENT_ID.BALLOON_CHANGE:
      return [name, e.actual];
    case VIR_DOMAIN_EVENT_ID.MIGRATION_ITERATION:
      return [name, e.iteration];
    case VIR_DOMAIN_EVENT_ID.DEVICE_ADDED:
    case VIR_DOMAIN_EVENT_ID.DEVICE_REMOVED:
    case VIR_DOMAIN_EVENT_ID.DEVICE_REMOVAL_FAILED:
      return [name, e.devAlias];
    case VIR_DOMAIN_EVENT_ID.TRAY_CHANGE:
      return [name, e.devAlias, byValue(TRAY, x.reason as number)];
    case VIR_DOMAIN_EVENT_ID.AGENT_LIFECYCLE:
      return [name, byValue(AGENT_STATE, e.state), byValue(AGENT_REASON, e.reason)];
    case VIR_DOMAIN_EVENT_ID.METADATA_CHANGE:
      return [name, e.type, e.nsuri ?? null];
    case VIR_DOMAIN_EVENT_ID.TUNABLE:
      return [name, Object.fromEntries((e.params ?? []).map((p) => [p.field, p.value]))];
    case VIR_DOMAIN_EVENT_ID.JOB_COMPLETED:
      return [name, (e.params ?? []).map((p) => p.field).sort()];
    default:
      return [name];
  }
}

/**
 * What is compared. A run of REBOOTs is one: libvirt sends one per QEMU RESET, and the firmware
 * resets the machine while it boots a number of times that depends on timing under TCG. A run of
 * BALLOON_CHANGEs is its last: QEMU reports the balloon at most once a second while the guest
 * gives memory back, so how many arrive depends on the guest's pace; where it ends does not. A
 * run of MIGRATION_ITERATIONs is one, without its number: how many passes over RAM a save takes
 * depends on how much the guest wrote meanwhile.
 */
export function normalize(seq: Entry[]): Entry[] {
  const out: Entry[] = [];
  for (const raw of seq) {
    const e = raw[0] === 'MIGRATION_ITERATION' ? [raw[0]] : raw;
    const prev = out[out.length - 1];
    if (
      prev &&
      prev[0] === e[0] &&
      ['REBOOT', 'BALLOON_CHANGE', 'MIGRATION_ITERATION'].includes(e[0] as string)
    ) {
      out[out.length - 1] = e;
    } else out.push(e);
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The events of one scenario, by segment, from connection `c` with files in `dir`. */
export async function replay(
  c: HypervisorDriver,
  dir: string,
  sc: Scenario,
  guest: TestGuest,
  actions?: string,
): Promise<Record<string, Entry[]>> {
  const uuid = uuidOf(sc.name);
  const events: Entry[] = [];
  const ids: number[] = [];
  for (let id = 0; id < VIR_DOMAIN_EVENT_ID_LAST; id++) {
    ids.push(
      await c.connectDomainEventRegisterAny(null, id, (e) => {
        if (e.dom.uuid === uuid) events.push(entry(e));
      }),
    );
  }
  const files = {
    dir,
    kernel: path.join(dir, 'vmlinuz'),
    initrd: path.join(dir, 'initrd.img'),
    serial: path.join(dir, 'serial.log'),
    cdrom: path.join(dir, 'cd.img'),
  };
  rmSync(files.serial, { force: true }); // its `ready` reports are counted from the scenario's start
  // copies: the security drivers label what a guest uses
  copyFileSync(guest.kernel, files.kernel);
  let cmdline = guest.append;
  if (sc.guest === 'actions') {
    writeFileSync(files.initrd, Buffer.concat([readFileSync(guest.initrd), readFileSync(actions!)]));
    cmdline += ` rdinit=/act qvirt.action=${sc.action}`;
  } else copyFileSync(guest.initrd, files.initrd);
  for (const f of ['cd.img', 'hot.img']) writeFileSync(path.join(dir, f), Buffer.alloc(1 << 20));
  const fill: Record<string, string> = {
    ...files,
    name: `qvirt-ev-${sc.name}`,
    uuid,
    cmdline,
    emulator: '/usr/bin/qemu-system-x86_64',
    on_poweroff: sc.on[0],
    on_reboot: sc.on[1],
    on_crash: sc.on[2],
    extra: sc.extra ?? '',
  };
  let xml = SCENARIOS.templates[sc.guest]!.replace(/\{(\w+)\}/g, (m, k: string) => fill[k] ?? m);
  // S3 offered to the guest, as record.py does for `pm` scenarios
  if (sc.pm) xml = xml.replace('</features>', "</features>\n  <pm><suspend-to-mem enabled='yes'/></pm>");
  const sub = (s: string) => s.replaceAll('{dir}', dir).replaceAll('{cdrom}', files.cdrom);
  const saved = path.join(dir, 'saved.img');
  const serial = () => {
    try {
      return readFileSync(files.serial, 'utf8');
    } catch {
      return '';
    }
  };
  const until = async (what: string, pred: () => boolean, ms = 150_000) => {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(events)}`);
      await sleep(100);
    }
  };
  const d = async () => c.domainLookupByUUID(uuid);
  const step = async ([op, ...a]: Step) => {
    switch (op) {
      case 'define':
        return void (await c.domainDefineXML(xml));
      case 'start':
        return void (await c.domainCreateWithFlags(await d(), (a[0] as number) ?? 0));
      case 'ready':
        return until(
          `ready #${a[0]}`,
          () => serial().split('QVIRT-GUEST ready').length - 1 >= (a[0] as number),
        );
      case 'serial':
        return until(String(a[0]), () => serial().includes(a[0] as string));
      case 'event':
        return until(JSON.stringify(a), () =>
          events.some((e) => a.every((v, i) => JSON.stringify(e[i]) === JSON.stringify(v))),
        );
      case 'suspend':
        return c.domainSuspend(await d());
      case 'resume':
        return c.domainResume(await d());
      case 'setmem':
        return c.domainSetMemoryFlags(await d(), a[0] as number, 1);
      case 'metadata':
        return c.domainSetMetadata(
          await d(),
          a[0] as number,
          a[1] as string | null,
          a[2] as string | null,
          a[3] as string | null,
          a[4] as number,
        );
      case 'attach':
        return c.domainAttachDeviceFlags(await d(), sub(a[0] as string), a[1] as number);
      case 'detach':
        return c.domainDetachDeviceFlags(await d(), sub(a[0] as string), a[1] as number);
      case 'update':
        return c.domainUpdateDeviceFlags(await d(), sub(a[0] as string), a[1] as number);
      case 'reset':
        return void (await c.domainReset(await d(), 0));
      case 'reboot':
        return void (await c.domainReboot(await d(), 0));
      case 'shutdown':
        return void (await c.domainShutdownFlags(await d(), a[0] as number));
      case 'destroy':
        return void (await c.domainDestroy(await d()));
      case 'save':
        return c.domainSave(await d(), saved);
      case 'restore':
        return c.domainRestore(saved);
      case 'kill': // QEMU dies under the driver (SIGKILL)
        return process.kill(qemuPid(dir, fill.name!), 'SIGKILL');
      case 'pmsuspend': // virDomainPMSuspendForDuration, where the driver has it
        return (c as unknown as PM).domainPMSuspendForDuration(await d(), a[0] as number, 0, 0);
      case 'pmwakeup':
        return (c as unknown as PM).domainPMWakeup(await d(), 0);
      case 'rename':
        return void (await c.domainRename(await d(), a[0] as string, 0));
      case 'undefine':
        return void (await c.domainUndefine(await d()));
      default:
        throw new Error(`unknown step ${op}`);
    }
  };
  const result: Record<string, Entry[]> = {};
  try {
    for (const seg of sc.segments) {
      events.length = 0;
      try {
        for (const s of seg.steps) await step(s);
      } catch (err) {
        // the segment's test shows why; the ones after it, which need its state, are not run
        result[seg.name] = [...events, ['FAILED', (err as Error).message]];
        break;
      }
      await sleep(1500); // anything late, as the recorder waits
      result[seg.name] = [...events];
    }
  } finally {
    for (const id of ids) await c.connectDomainEventDeregisterAny(id).catch(() => {});
    const left = await c.domainLookupByUUID(uuid).catch(() => undefined);
    if (left) {
      await c.domainDestroy(left).catch(() => {});
      await c.domainUndefine(left).catch(() => {});
    }
  }
  return result;
}

/** The scenario's domain UUID: record.py's uuid5(NAMESPACE_URL, 'qvirt-event-sequences/NAME'). */
export function uuidOf(name: string): string {
  const ns = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');
  const h = createHash('sha1').update(ns).update(`qvirt-event-sequences/${name}`).digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The pid of a running domain's QEMU, from its pid file wherever under `dir` the instance keeps it. */
function qemuPid(dir: string, name: string): number {
  const walk = (d: string): string | undefined => {
    for (const e of readdirSync(d)) {
      const p = path.join(d, e);
      if (e === `${name}.pid`) return p;
      if (statSync(p).isDirectory()) {
        const found = walk(p);
        if (found) return found;
      }
    }
    return undefined;
  };
  const file = walk(dir);
  if (!file) throw new Error(`no pid file of ${name} under ${dir}`);
  return Number(readFileSync(file, 'utf8').trim());
}
