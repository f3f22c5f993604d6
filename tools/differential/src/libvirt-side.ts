/**
 * libvirt 9.0 through one long-lived libvirt-python process (`libvirt-oracle.py`) on a throwaway
 * embed root: requests go out one JSON line each and come back in order.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface SideResult {
  define: { xml: string } | { error: string };
  native: { argv: string } | { error: string };
}

const ORACLE = path.join(path.dirname(fileURLToPath(import.meta.url)), '../src/libvirt-oracle.py');
const PYTHON = '/usr/bin/python3';

export class LibvirtSide {
  readonly root: string;
  #child!: ChildProcess;
  #waiting: ((line: string) => void)[] = [];
  #ready!: Promise<void>;
  #closing = false;
  /** how many times libvirt-python died under a case (each is reported as that case's result) */
  crashes = 0;

  constructor() {
    this.root = mkdtempSync(path.join(tmpdir(), 'qvirt-diff-libvirt-'));
    chmodSync(this.root, 0o755);
    mkdirSync(path.join(this.root, 'etc'), { recursive: true });
    // /dev/kvm is root's here: as another user libvirt drops its capabilities cache on every lookup
    writeFileSync(path.join(this.root, 'etc/qemu.conf'), 'user = "root"\ngroup = "root"\n');
    this.#spawn();
  }

  /** One libvirt-python process; when it dies under a case, that case gets a crash and a new one starts. */
  #spawn(): void {
    const child = spawn(PYTHON, [ORACLE, this.root], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.#child = child;
    child.stdin!.on('error', () => {}); // a write to a process that just died: its exit handler reports it
    const lines = createInterface({ input: child.stdout! });
    let first: (() => void) | undefined;
    this.#ready = new Promise((resolve, reject) => {
      first = resolve;
      child.once('exit', (code, signal) => {
        if (first) reject(new Error(`libvirt-python exited (${code ?? signal}) before it was ready`));
      });
    });
    lines.on('line', (line) => {
      if (first) {
        first();
        first = undefined;
        return;
      }
      this.#waiting.shift()?.(line);
    });
    child.once('exit', (code, signal) => {
      if (this.#closing || first) return;
      const pending = this.#waiting.splice(0);
      if (pending.length) this.crashes++;
      for (const w of pending) w(JSON.stringify({ crash: `libvirt-python died (${code ?? signal})` }));
      this.#spawn();
    });
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  async run(id: number, xml: string): Promise<SideResult> {
    await this.#ready;
    return new Promise((resolve) => {
      this.#waiting.push((line) => {
        const r = JSON.parse(line);
        if (r.crash)
          resolve({ define: { error: `crash: ${r.crash}` }, native: { error: `crash: ${r.crash}` } });
        else resolve(r as SideResult);
      });
      this.#child.stdin!.write(`${JSON.stringify({ id, xml })}\n`);
    });
  }

  close(): Promise<void> {
    this.#closing = true;
    return new Promise((resolve) => {
      this.#child.once('exit', () => {
        rmSync(this.root, { recursive: true, force: true });
        resolve();
      });
      this.#child.stdin!.end();
    });
  }
}
