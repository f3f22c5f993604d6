/** Fake emulators on a temporary PATH for the prober's tests, and their cleanup. */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FAKE = fileURLToPath(new URL('./fake-qemu.mjs', import.meta.url));

export interface FakeConfig {
  mode: 'ok' | 'replay' | 'hang' | 'exit' | 'notqemu' | 'crash';
  version?: [number, number, number];
  arch?: string;
  replies?: string;
  crashAfter?: number;
  machines?: unknown[];
}

export class FakeHost {
  readonly root = mkdtempSync(join(tmpdir(), 'qvirt-prober-'));
  readonly bin = join(this.root, 'bin');
  readonly cache = join(this.root, 'cache');
  readonly log = join(this.root, 'calls.log');
  constructor() {
    mkdirSync(this.bin);
  }

  /** Writes an executable `name` into the fake PATH directory. */
  emulator(name: string, cfg: FakeConfig): string {
    const path = join(this.bin, name);
    const full = { ...cfg, log: this.log, pidFile: join(this.root, `${name}.pid`) };
    writeFileSync(
      path,
      `#!${process.execPath}\nimport { run } from ${JSON.stringify(FAKE)};\nrun(${JSON.stringify(full)});\n`,
    );
    chmodSync(path, 0o755);
    return path;
  }

  /** A fake /dev/kvm: a plain file with the given mode, owned by us. */
  kvmDevice(mode: number): string {
    const p = join(this.root, 'kvm');
    // the QEMU user must reach the device, as it reaches /dev
    chmodSync(this.root, 0o711);
    writeFileSync(p, '');
    chmodSync(p, mode);
    return p;
  }

  calls(): { pid: number; args: string[] }[] {
    if (!existsSync(this.log)) return [];
    return readFileSync(this.log, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  }

  /** Pids of every fake started; tests assert none is left alive. */
  livePids(): number[] {
    return this.calls()
      .map((c) => c.pid)
      .filter((pid) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      });
  }

  cleanup(): void {
    for (const pid of this.livePids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}
