import { VirError } from '@qvirt/core/errors';
import {
  VIR_CONNECT_LIST_SECRETS as L,
  type Secret,
  type SecretDriver,
  VIR_SECRET_DEFINE_VALIDATE,
  VIR_SECRET_EVENT_ID,
  VIR_SECRET_USAGE_TYPE_NAMES,
} from '@qvirt/core/hypervisor';
import { type CommandDef, type Io, usageError, virFileReadAll } from '../command.js';
import { print, reporting, withSecrets } from '../driver-connection.js';
import { formatTable } from './list.js';

const SECRET_OPT = { name: 'secret', type: 'data' as const, required: true, help: 'secret UUID' };
const flag = (name: string, help: string) => ({ name, type: 'bool' as const, help });

/** virSecretLookupByUUIDString: the UUID is parsed on the client side first. */
function validUuid(text: string): boolean {
  const hex = text.trim().replace(/-/g, '');
  return /^[0-9a-fA-F]{32}$/.test(hex) && !/^-|--|-$/.test(text.trim());
}

/** virshCommandOptSecret. */
async function lookupSecret(conn: SecretDriver, io: Io, key: string): Promise<Secret> {
  return reporting(io, `failed to get secret '${key}'`, async () => {
    if (!validUuid(key)) {
      throw new VirError(
        'INVALID_ARG',
        'secret',
        'uuidstr in virSecretLookupByUUIDString must be a valid UUID',
      );
    }
    return conn.secretLookupByUUID(key.toLowerCase());
  });
}

export const secretDefineCommand: CommandDef = {
  name: 'secret-define',
  help: 'define or modify a secret from an XML file',
  desc: 'Define or modify a secret.',
  options: [
    { name: 'file', type: 'data', required: true, help: 'file containing secret attributes in XML' },
    flag('validate', 'validate the XML against the schema'),
  ],
  async run(session, opts) {
    const file = opts.file as string;
    const xml = (await virFileReadAll(file)).toString('utf8');
    await withSecrets(session, async (conn) => {
      const s = await reporting(session.io, `Failed to set attributes from ${file}`, () =>
        conn.secretDefineXML(xml, opts.validate ? VIR_SECRET_DEFINE_VALIDATE : 0),
      );
      print(session.io, `Secret ${s.uuid} created\n`);
    });
  },
};

export const secretDumpxmlCommand: CommandDef = {
  name: 'secret-dumpxml',
  help: 'secret attributes in XML',
  desc: 'Output attributes of a secret as an XML dump to stdout.',
  options: [SECRET_OPT],
  async run(session, opts) {
    await withSecrets(session, async (conn) => {
      const s = await lookupSecret(conn, session.io, opts.secret as string);
      print(session.io, await conn.secretGetXMLDesc(s, 0));
    });
  },
};

export const secretUndefineCommand: CommandDef = {
  name: 'secret-undefine',
  help: 'undefine a secret',
  desc: 'Undefine a secret.',
  options: [SECRET_OPT],
  async run(session, opts) {
    const key = opts.secret as string;
    await withSecrets(session, async (conn) => {
      const s = await lookupSecret(conn, session.io, key);
      await reporting(session.io, `Failed to delete secret ${key}`, () => conn.secretUndefine(s));
      print(session.io, `Secret ${key} deleted\n`);
    });
  },
};

export const secretSetValueCommand: CommandDef = {
  name: 'secret-set-value',
  help: 'set a secret value',
  desc: 'Set a secret value.',
  options: [
    SECRET_OPT,
    { name: 'file', type: 'string', help: 'read secret from file' },
    flag('plain', 'read the secret from file without converting from base64'),
    flag('interactive', 'read the secret from the terminal'),
    // virsh 9.0 takes the value positionally too (and warns)
    { name: 'base64', type: 'data', help: 'base64-encoded secret value' },
  ],
  async run(session, opts) {
    const exclusive: Array<[string, string]> = [
      ['file', 'base64'],
      ['plain', 'base64'],
      ['interactive', 'base64'],
      ['interactive', 'plain'],
      ['interactive', 'file'],
    ];
    for (const [a, b] of exclusive) {
      if (opts[a] !== undefined && opts[b] !== undefined) {
        throw usageError(`Options --${a} and --${b} are mutually exclusive`);
      }
    }
    await withSecrets(session, async (conn) => {
      const s = await lookupSecret(conn, session.io, opts.secret as string);
      let raw: Buffer;
      if (typeof opts.base64 === 'string') {
        session.io.err('error: Passing secret value as command-line argument is insecure!\n');
        raw = Buffer.from(opts.base64);
      } else if (typeof opts.file === 'string') {
        raw = await virFileReadAll(opts.file);
      } else if (opts.interactive) {
        throw usageError('Failed to read secret');
      } else {
        throw usageError('Input secret value is missing');
      }
      // g_base64_decode: what is not base64 is skipped
      const value = opts.plain ? raw : Buffer.from(raw.toString('latin1'), 'base64');
      try {
        await reporting(session.io, 'Failed to set secret value', () => conn.secretSetValue(s, value, 0));
      } finally {
        value.fill(0);
        raw.fill(0);
      }
      print(session.io, 'Secret value set\n');
    });
  },
};

export const secretGetValueCommand: CommandDef = {
  name: 'secret-get-value',
  help: 'Output a secret value',
  desc: 'Output a secret value to stdout.',
  options: [SECRET_OPT, flag('plain', 'get value without converting to base64')],
  async run(session, opts) {
    await withSecrets(session, async (conn) => {
      const s = await lookupSecret(conn, session.io, opts.secret as string);
      const value = Buffer.from(await conn.secretGetValue(s, 0));
      print(session.io, opts.plain ? value.toString('utf8') : value.toString('base64'));
      value.fill(0);
    });
  },
};

export const secretListCommand: CommandDef = {
  name: 'secret-list',
  help: 'list secrets',
  desc: 'Returns a list of secrets',
  options: [
    flag('ephemeral', 'list ephemeral secrets'),
    flag('no-ephemeral', 'list non-ephemeral secrets'),
    flag('private', 'list private secrets'),
    flag('no-private', 'list non-private secrets'),
  ],
  async run(session, opts) {
    let flags = 0;
    if (opts.ephemeral) flags |= L.EPHEMERAL;
    if (opts['no-ephemeral']) flags |= L.NO_EPHEMERAL;
    if (opts.private) flags |= L.PRIVATE;
    if (opts['no-private']) flags |= L.NO_PRIVATE;
    await withSecrets(session, async (conn) => {
      const secrets = await reporting(session.io, 'Failed to list node secrets', () =>
        conn.connectListAllSecrets(flags),
      );
      // virshSecretSorter: by UUID, case-insensitively
      secrets.sort((a, b) => a.uuid.toLowerCase().localeCompare(b.uuid.toLowerCase()));
      const rows = secrets.map((s) => [
        s.uuid,
        s.usageType ? `${VIR_SECRET_USAGE_TYPE_NAMES[s.usageType] ?? ''} ${s.usageID}` : 'Unused',
      ]);
      print(session.io, formatTable(['UUID', 'Usage'], rows));
    });
  },
};

const EVENT_NAMES = ['lifecycle', 'value-changed'];
const LIFECYCLE_NAMES = ['Defined', 'Undefined'];

/** virTimeStringNowRaw: `YYYY-MM-DD HH:MM:SS.mmm+0000`. */
function timestamp(): string {
  return `${new Date().toISOString().replace('T', ' ').replace('Z', '')}+0000`;
}

export const secretEventCommand: CommandDef = {
  name: 'secret-event',
  help: 'Secret Events',
  desc: 'List event types, or wait for secret events to occur',
  options: [
    { name: 'secret', type: 'string', help: 'filter by secret name or uuid' },
    { name: 'event', type: 'string', help: 'which event type to wait for' },
    flag('loop', 'loop until timeout or interrupt, rather than one-shot'),
    { name: 'timeout', type: 'string', help: 'timeout seconds' },
    flag('list', 'list valid event types'),
    flag('timestamp', 'show timestamp for each printed event'),
  ],
  async run(session, opts) {
    if (opts.list) {
      session.io.out(`${EVENT_NAMES.map((n) => `${n}\n`).join('')}\n`);
      return;
    }
    const name = opts.event as string | undefined;
    if (!name) throw usageError('either --list or --event <type> is required');
    const eventID = EVENT_NAMES.indexOf(name);
    if (eventID < 0) throw usageError(`unknown event type ${name}`);
    let timeoutMs = 0;
    if (opts.timeout !== undefined) {
      const t = Number(opts.timeout);
      if (!/^\d+$/.test(String(opts.timeout)) || t < 1) {
        throw usageError(`invalid timeout value: '${opts.timeout}'`);
      }
      timeoutMs = t * 1000;
    }
    return withSecrets(session, async (conn) => {
      // virsh goes on without a filter when the secret is not found (its error already printed)
      let filter: Secret | null = null;
      if (typeof opts.secret === 'string') {
        const key = opts.secret;
        filter = await conn.secretLookupByUUID(key.toLowerCase()).catch(() => {
          session.io.err(`error: failed to get secret '${key}'\n`);
          return null;
        });
      }
      let count = 0;
      let done: (why: 'done' | 'timeout' | 'interrupt') => void = () => {};
      const finished = new Promise<'done' | 'timeout' | 'interrupt'>((resolve) => {
        done = resolve;
      });
      const id = await conn.connectSecretEventRegisterAny(filter, eventID, (e) => {
        if (!opts.loop && count) return;
        const what =
          e.eventID === VIR_SECRET_EVENT_ID.LIFECYCLE
            ? `event 'lifecycle' for secret ${e.secret.uuid}: ${LIFECYCLE_NAMES[e.event ?? -1] ?? 'unknown'}`
            : `event '${name}' for secret ${e.secret.uuid}`;
        session.io.out(`${opts.timestamp ? `${timestamp()}: ` : ''}${what}\n`);
        count++;
        if (!opts.loop) done('done');
      });
      const timer = timeoutMs ? setTimeout(() => done('timeout'), timeoutMs) : undefined;
      const onInt = () => done('interrupt');
      process.once('SIGINT', onInt);
      try {
        const why = await finished;
        if (why === 'interrupt') session.io.out('event loop interrupted\n');
        if (why === 'timeout') session.io.out('event loop timed out\n');
        print(session.io, `events received: ${count}\n`);
        return count > 0;
      } finally {
        if (timer) clearTimeout(timer);
        process.off('SIGINT', onInt);
        await conn.connectSecretEventDeregisterAny(id);
      }
    });
  },
};

export const SECRET_COMMANDS: CommandDef[] = [
  secretDefineCommand,
  secretDumpxmlCommand,
  secretEventCommand,
  secretGetValueCommand,
  secretListCommand,
  secretSetValueCommand,
  secretUndefineCommand,
];
