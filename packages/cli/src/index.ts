/**
 * qvirsh: a virsh-compatible command line for qvirt. Global options follow virsh's
 * (`-c URI`, `-h`, `-v`/`--version`); each command lives in its own module under commands/.
 */
import { errorLine } from '@qvirt/core';
import { VERSION } from './version.js';

export { VERSION } from './version.js';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const stdio: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

export const USAGE = `
qvirsh [options]... [<command_string>]
qvirsh [options]... <command> [args...]

  options:
    -c | --connect=URI      hypervisor connection URI
    -h | --help             this help
    -v                      short version
    -V                      long version
         --version[=TYPE]   version, TYPE is short or long (default short)

  qvirsh is qvirt's virsh: the same commands, options and output as libvirt's virsh.
  Commands arrive with the driver; this build has none yet.

`;

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  try {
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!;
      if (arg === '-h' || arg === '--help') {
        io.out(USAGE);
        return 0;
      }
      if (arg === '-v' || arg === '--version' || arg === '--version=short') {
        io.out(`${VERSION}\n`);
        return 0;
      }
      if (arg === '-V' || arg === '--version=long') {
        io.out(`qvirsh ${VERSION} (qvirt, libvirt 9.0.0 compatible) on Node.js ${process.versions.node}\n`);
        return 0;
      }
      if (arg === '-c' || arg === '--connect') {
        if (argv[i + 1] === undefined) throw new Error(`option '${arg}' requires an argument`);
        i++;
        continue;
      }
      if (arg.startsWith('--connect=')) continue;
      if (arg.startsWith('-')) throw new Error(`unsupported option '${arg}'. See --help.`);
      throw new Error(`unknown command: '${arg}'`);
    }
    io.out(USAGE);
    return 0;
  } catch (err) {
    io.err(`error: ${errorLine(err)}\n`);
    return 1;
  }
}
