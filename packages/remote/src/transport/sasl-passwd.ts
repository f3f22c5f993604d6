/**
 * `qvirt-saslpasswd`: adds, changes, removes and lists users of qvirtd's SASL user database, as
 * `saslpasswd2 -a libvirt` / `sasldblistusers2` do for libvirtd. The password is read from stdin
 * (the first line; no prompt, no echo), so scripts can pipe it in:
 *
 *   echo secret | qvirt-saslpasswd [-f DB] [-r REALM] NAME     add or change NAME
 *   qvirt-saslpasswd [-f DB] -d NAME                          delete NAME
 *   qvirt-saslpasswd [-f DB] -l                               list users
 *
 * The default database is qvirtd's: /etc/qvirt/sasl-users.json for root, else
 * $XDG_CONFIG_HOME/qvirt/sasl-users.json (`sasl_user_db` in qvirtd.conf points elsewhere).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_SASL_REALM, DEFAULT_SASL_USER_DB, SaslUserDb } from '../auth/user-db.js';

export function sessionSaslUserDb(env: NodeJS.ProcessEnv = process.env): string {
  const config = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(config, 'qvirt', 'sasl-users.json');
}

export function defaultSaslUserDb(): string {
  return process.geteuid?.() === 0 ? DEFAULT_SASL_USER_DB : sessionSaslUserDb();
}

async function readPassword(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(Buffer.from(c as Buffer));
  const text = Buffer.concat(chunks).toString('utf8');
  const nl = text.indexOf('\n');
  return (nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, '');
}

export const SASLPASSWD_USAGE = `Usage: qvirt-saslpasswd [-f DB] [-r REALM] NAME   (password on stdin)
       qvirt-saslpasswd [-f DB] -d NAME
       qvirt-saslpasswd [-f DB] -l
`;

export async function saslPasswdMain(
  argv: string[],
  io: {
    stdin: NodeJS.ReadableStream;
    stdout: NodeJS.WritableStream;
    stderr: NodeJS.WritableStream;
  } = process,
): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    io.stderr.write(`qvirt-saslpasswd: ${(err as Error).message}\n${SASLPASSWD_USAGE}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    io.stdout.write(SASLPASSWD_USAGE);
    return 0;
  }
  const file = v.file ?? defaultSaslUserDb();
  try {
    const db = SaslUserDb.load(file);
    if (v.list) {
      for (const u of db.users()) io.stdout.write(`${u}\n`);
      return 0;
    }
    const name = positionals[0];
    if (!name || positionals.length > 1) throw new Error('exactly one user name is required');
    if (v.delete) {
      if (!db.remove(name)) throw new Error(`user '${name}' not found`);
      db.save(file);
      return 0;
    }
    const password = await readPassword(io.stdin);
    db.setPassword(name, password, v.realm ?? DEFAULT_SASL_REALM);
    db.save(file);
    return 0;
  } catch (err) {
    io.stderr.write(`qvirt-saslpasswd: ${(err as Error).message}\n`);
    return 1;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      file: { type: 'string', short: 'f' },
      realm: { type: 'string', short: 'r' },
      delete: { type: 'boolean', short: 'd' },
      list: { type: 'boolean', short: 'l' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
}
