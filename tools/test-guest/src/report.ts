// The guest's serial-port reports and a view of the guest built from them, so that a test can
// wait for "the guest sees the new disk". The format (guest/lib.sh):
//   QVIRT-GUEST <kind> key=value ...
// kernel, cpus, memory, disk, mount and nic lines come at boot and again when a value changes;
// disk-gone, mount-gone and nic-gone when a device leaves; ready after the first full report;
// agent, power-button, shutdown and warning as they happen.
import { closeSync, openSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

export const REPORT_MARK = 'QVIRT-GUEST ';

export interface GuestReport {
  kind: string;
  fields: Record<string, string>;
  line: string;
}

/** The report a console line holds (anywhere in it: kernel messages may precede it), if any. */
export function parseGuestReport(line: string): GuestReport | undefined {
  const at = line.indexOf(REPORT_MARK);
  if (at < 0) return undefined;
  const text = line.slice(at + REPORT_MARK.length).trim();
  const [kind, ...pairs] = text.split(/\s+/);
  if (!kind) return undefined;
  const fields: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq > 0) fields[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { kind, fields, line: text };
}

export interface GuestDisk {
  name: string;
  bytes: number;
  /** The serial the disk was given, or undefined when it has none. */
  serial: string | undefined;
  readonly: boolean;
  removable: boolean;
}

export interface GuestNic {
  name: string;
  mac: string;
  state: string;
  ipv4: string[];
}

export interface GuestMount {
  path: string;
  source: string;
  type: string;
}

/** What the guest last reported. */
export interface GuestView {
  ready: boolean;
  kernelRelease: string | undefined;
  cpus: { count: number; online: string; present: string } | undefined;
  memoryKiB: number | undefined;
  disks: Map<string, GuestDisk>;
  nics: Map<string, GuestNic>;
  mounts: Map<string, GuestMount>;
  /** The agent's port once the guest started qemu-ga on it. */
  agentPort: string | undefined;
  powerButton: boolean;
  shuttingDown: boolean;
  warnings: string[];
}

function emptyView(): GuestView {
  return {
    ready: false,
    kernelRelease: undefined,
    cpus: undefined,
    memoryKiB: undefined,
    disks: new Map(),
    nics: new Map(),
    mounts: new Map(),
    agentPort: undefined,
    powerButton: false,
    shuttingDown: false,
    warnings: [],
  };
}

function apply(view: GuestView, r: GuestReport): void {
  const f = r.fields;
  switch (r.kind) {
    case 'ready':
      view.ready = true;
      break;
    case 'kernel':
      view.kernelRelease = f.release;
      break;
    case 'cpus':
      view.cpus = { count: Number(f.count), online: f.online ?? '', present: f.present ?? '' };
      break;
    case 'memory':
      view.memoryKiB = Number(f['total-kib']);
      break;
    case 'disk':
      if (f.name) {
        view.disks.set(f.name, {
          name: f.name,
          bytes: Number(f.bytes),
          serial: f.serial === '-' ? undefined : f.serial,
          readonly: f.ro === '1',
          removable: f.removable === '1',
        });
      }
      break;
    case 'nic':
      if (f.name) {
        view.nics.set(f.name, {
          name: f.name,
          mac: f.mac ?? '',
          state: f.state ?? '',
          ipv4: !f.ipv4 || f.ipv4 === '-' ? [] : f.ipv4.split(','),
        });
      }
      break;
    case 'mount':
      if (f.name) view.mounts.set(f.name, { path: f.name, source: f.source ?? '', type: f.type ?? '' });
      break;
    case 'disk-gone':
      if (f.name) view.disks.delete(f.name);
      break;
    case 'nic-gone':
      if (f.name) view.nics.delete(f.name);
      break;
    case 'mount-gone':
      if (f.name) view.mounts.delete(f.name);
      break;
    case 'agent':
      view.agentPort = f.port;
      break;
    case 'power-button':
      view.powerButton = true;
      break;
    case 'shutdown':
      view.shuttingDown = true;
      break;
    case 'warning':
      view.warnings.push(r.line);
      break;
  }
}

interface Waiter {
  check: () => boolean;
  fail: (err: Error) => void;
}

/**
 * Reads a guest's console (feed it QEMU's serial output, or follow a file QEMU writes it to),
 * keeps the reports and the view they add up to, and waits for conditions on that view.
 */
export class GuestConsole {
  readonly reports: GuestReport[] = [];
  readonly view: GuestView = emptyView();
  /** The console's text, for failure messages. */
  text = '';
  private partial = '';
  private decoder = new StringDecoder('utf8');
  private waiters = new Set<Waiter>();
  private closedReason: string | undefined;

  feed(chunk: string | Buffer): void {
    const s = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    this.text = (this.text + s).slice(-65536);
    const lines = (this.partial + s).split(/\r?\n/);
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      const r = parseGuestReport(line);
      if (!r) continue;
      this.reports.push(r);
      apply(this.view, r);
    }
    for (const w of [...this.waiters]) w.check();
  }

  /** No more output will come (QEMU exited): pending waits fail now instead of at their timeout. */
  close(reason: string): void {
    this.closedReason = reason;
    for (const w of [...this.waiters]) w.check();
  }

  /**
   * Resolves with the predicate's first truthy answer on the view (checked now and after each
   * line); rejects after timeoutMs, or when the console closes first, with the console's tail.
   */
  waitUntil<T>(
    what: string,
    predicate: (view: GuestView) => T | undefined | false,
    timeoutMs = 60000,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        check: () => {
          const answer = predicate(this.view);
          if (answer) {
            done();
            resolve(answer);
            return true;
          }
          if (this.closedReason !== undefined) waiter.fail(new Error(`${this.closedReason}`));
          return false;
        },
        fail: (err) => {
          done();
          const tail = this.text.slice(-2000);
          reject(new Error(`guest: ${what}: ${err.message}; console ends with:\n${tail}`));
        },
      };
      const done = () => {
        if (timer) clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      this.waiters.add(waiter);
      if (waiter.check()) return;
      timer = setTimeout(() => waiter.fail(new Error(`not within ${timeoutMs} ms`)), timeoutMs);
    });
  }

  /** Waits for a report of this kind (and fields) after the first `after` reports. */
  waitForReport(
    kind: string,
    fields: Record<string, string> = {},
    opts: { after?: number; timeoutMs?: number } = {},
  ): Promise<GuestReport> {
    const after = opts.after ?? 0;
    const matches = (r: GuestReport) =>
      r.kind === kind && Object.entries(fields).every(([k, v]) => r.fields[k] === v);
    const what = `a '${kind}' report ${JSON.stringify(fields)}`;
    return this.waitUntil(what, () => this.reports.slice(after).find(matches), opts.timeoutMs);
  }

  /**
   * Follows a file QEMU writes the console to (a `<serial type='file'>` or `<log file=…>`),
   * reading what was appended every `intervalMs`. Returns the function that stops following.
   */
  followFile(path: string, intervalMs = 100): () => void {
    let offset = 0;
    const buf = Buffer.alloc(65536);
    const poll = () => {
      let fd: number;
      try {
        fd = openSync(path, 'r');
      } catch {
        return; // not created yet
      }
      try {
        for (;;) {
          const n = readSync(fd, buf, 0, buf.length, offset);
          if (n <= 0) break;
          offset += n;
          this.feed(buf.subarray(0, n));
        }
      } finally {
        closeSync(fd);
      }
    };
    const timer = setInterval(poll, intervalMs);
    poll();
    return () => {
      clearInterval(timer);
      poll();
    };
  }
}
