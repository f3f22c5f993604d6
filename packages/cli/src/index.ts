/**
 * qvirsh: a virsh-compatible command line for qvirt. Global options follow virsh's
 * (`-c URI`, `-h`, `-v`/`--version`); each command lives in its own module under commands/.
 */
import { errorLine } from '@qvirt/core/errors';
import {
  type CommandDef,
  CommandFailed,
  commandHelp,
  type Io,
  parseOptions,
  type Session,
} from './command.js';
import { COMMANDS } from './commands/index.js';
import { VERSION } from './version.js';

export type { Io } from './command.js';
export { VERSION } from './version.js';

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

  commands (qvirsh help COMMAND for details):
${COMMANDS.map((c) => `    ${c.name.padEnd(24)}${c.help}`).join('\n')}

`;

function findCommand(name: string): CommandDef {
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) throw new Error(`unknown command: '${name}'`);
  return cmd;
}

export async function main(
  argv: string[],
  io: Io = stdio,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let uri: string | undefined;
  let session: Session | undefined;
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
        uri = argv[++i];
        if (uri === undefined) throw new Error(`option '${arg}' requires an argument`);
        continue;
      }
      if (arg.startsWith('--connect=')) {
        uri = arg.slice('--connect='.length);
        continue;
      }
      if (arg.startsWith('-')) throw new Error(`unsupported option '${arg}'. See --help.`);
      if (arg === 'help') {
        const topic = argv[i + 1];
        io.out(topic === undefined ? USAGE : commandHelp(findCommand(topic)));
        return 0;
      }
      const cmd = findCommand(arg);
      const rest = argv.slice(i + 1);
      if (rest.includes('--help')) {
        io.out(commandHelp(cmd));
        return 0;
      }
      const opts = parseOptions(cmd, rest);
      session = { io, uri: uri ?? env.LIBVIRT_DEFAULT_URI, env };
      const ok = await cmd.run(session, opts);
      return ok === false ? 1 : 0;
    }
    io.out(USAGE);
    return 0;
  } catch (err) {
    // a CommandFailed has printed all it had to, blank line included
    if (err instanceof CommandFailed) return 1;
    io.err(`error: ${errorLine(err)}\n`);
    // vshCommandRun: once a command's handler has run, virsh prints a blank line after it, after
    // the error of a failed one too (option checks inside the handler included); not when parsing
    // refused its options (no session yet) nor when it could not connect (virsh connects first)
    if (session && !session.connectFailed) io.out('\n');
    return 1;
  }
}
