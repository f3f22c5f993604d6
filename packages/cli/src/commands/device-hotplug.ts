/**
 * attach-device, detach-device, update-device, change-media, attach-interface and
 * detach-interface, as virsh 9.0's cmd* functions build their XML and print their results.
 */
import { readFile } from 'node:fs/promises';
import { VirError } from '@qvirt/core/errors';
import { VIR_DOMAIN_AFFECT as A } from '@qvirt/core/hypervisor';
import { formatXml, parseXml, type XmlElement } from '@qvirt/core/xml';
import { type CommandDef, usageError } from '../command.js';
import { DOMAIN_OPT, lookupDomain, print, reporting, withDriver } from '../driver-connection.js';

function deviceCommand(name: 'attach-device' | 'detach-device'): CommandDef {
  const attach = name === 'attach-device';
  return {
    name,
    help: attach ? 'attach device from an XML file' : 'detach device from an XML file',
    desc: attach ? 'Attach device from an XML <file>.' : 'Detach device from an XML <file>',
    options: [
      DOMAIN_OPT,
      { name: 'file', type: 'data', required: true, help: 'XML file' },
      { name: 'persistent', type: 'bool', help: 'make live change persistent' },
      { name: 'config', type: 'bool', help: 'affect next boot' },
      { name: 'live', type: 'bool', help: 'affect running domain' },
      { name: 'current', type: 'bool', help: 'affect current domain' },
    ],
    async run(session, opts) {
      await withDriver(session, async (conn) => {
        for (const [a, b] of [
          ['persistent', 'current'],
          ['current', 'live'],
          ['current', 'config'],
        ] as const) {
          if (opts[a] && opts[b]) throw usageError(`Options --${a} and --${b} are mutually exclusive`);
        }
        let flags = (opts.config || opts.persistent ? A.CONFIG : 0) | (opts.live ? A.LIVE : 0);
        const dom = await lookupDomain(conn, opts.domain as string);
        const from = opts.file as string;
        if (opts.persistent && (await conn.domainIsActive(dom)) === 1) flags |= A.LIVE;
        let xml: string;
        try {
          xml = await readFile(from, 'utf8');
        } catch (err) {
          throw new VirError(
            'SYSTEM_ERROR',
            'none',
            `Failed to open file '${from}': ${(err as Error).message.replace(/^.*?: /, '').replace(/, open.*$/, '')}`,
          );
        }
        await reporting(session.io, `Failed to ${attach ? 'attach' : 'detach'} device from ${from}`, () => {
          if (flags || opts.current) {
            return attach
              ? conn.domainAttachDeviceFlags(dom, xml, flags)
              : conn.domainDetachDeviceFlags(dom, xml, flags);
          }
          return attach ? conn.domainAttachDevice(dom, xml) : conn.domainDetachDevice(dom, xml);
        });
        print(session.io, attach ? 'Device attached successfully\n' : 'Device detached successfully\n');
      });
    },
  };
}

export const attachDeviceCommand = deviceCommand('attach-device');
export const detachDeviceCommand = deviceCommand('detach-device');

/** virsh's VSH_EXCLUSIVE_OPTIONS_VAR checks, in its order. */
function exclusive(opts: Record<string, unknown>, pairs: [string, string][]): void {
  for (const [a, b] of pairs) {
    if (opts[a] && opts[b]) throw usageError(`Options --${a} and --${b} are mutually exclusive`);
  }
}

async function readXmlFile(from: string): Promise<string> {
  try {
    return await readFile(from, 'utf8');
  } catch (err) {
    throw new VirError(
      'SYSTEM_ERROR',
      'none',
      `Failed to open file '${from}': ${(err as Error).message.replace(/^.*?: /, '').replace(/, open.*$/, '')}`,
    );
  }
}

const AFFECT_OPTS = [
  { name: 'persistent', type: 'bool', help: 'make live change persistent' },
  { name: 'config', type: 'bool', help: 'affect next boot' },
  { name: 'live', type: 'bool', help: 'affect running domain' },
  { name: 'current', type: 'bool', help: 'affect current domain' },
] as const;

/** cmdUpdateDevice. */
export const updateDeviceCommand: CommandDef = {
  name: 'update-device',
  help: 'update device from an XML file',
  desc: 'Update device from an XML <file>.',
  options: [
    DOMAIN_OPT,
    { name: 'file', type: 'data', required: true, help: 'XML file' },
    ...AFFECT_OPTS,
    { name: 'force', type: 'bool', help: 'force device update' },
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      exclusive(opts, [
        ['persistent', 'current'],
        ['current', 'live'],
        ['current', 'config'],
      ]);
      let flags = (opts.config || opts.persistent ? A.CONFIG : 0) | (opts.live ? A.LIVE : 0);
      const dom = await lookupDomain(conn, opts.domain as string);
      const from = opts.file as string;
      const xml = await readXmlFile(from);
      if (opts.persistent && (await conn.domainIsActive(dom)) === 1) flags |= A.LIVE;
      if (opts.force) flags |= DEVICE_MODIFY_FORCE;
      await reporting(session.io, `Failed to update device from ${from}`, () =>
        conn.domainUpdateDeviceFlags(dom, xml, flags),
      );
      print(session.io, 'Device updated successfully\n');
    });
  },
};

/** VIR_DOMAIN_DEVICE_MODIFY_FORCE. */
const DEVICE_MODIFY_FORCE = 1;

const attr = (el: XmlElement | undefined, name: string) => el?.attributes[name];
const child = (el: XmlElement, name: string) =>
  el.children.find((c): c is XmlElement => typeof c !== 'string' && c.name === name);

/** virshFindDisk (VIRSH_FIND_DISK_CHANGEABLE): a CD-ROM or floppy by target or source. */
function findChangeableDisk(doc: string, path: string): XmlElement | string {
  const domain = parseXml(doc, '(domain_definition)');
  const devices = child(domain, 'devices');
  const disks = (devices?.children ?? []).filter(
    (c): c is XmlElement => typeof c !== 'string' && c.name === 'disk',
  );
  if (disks.length === 0) return 'Failed to get disk information';
  for (const disk of disks) {
    const device = attr(disk, 'device');
    if (device && device !== 'cdrom' && device !== 'floppy') continue;
    const src = child(disk, 'source');
    const names = [
      attr(child(disk, 'target'), 'dev'),
      attr(src, 'file'),
      attr(src, 'dev'),
      attr(src, 'dir'),
      attr(src, 'name'),
    ];
    if (names.includes(path)) {
      // virshDiskDropBackingStore
      disk.children = disk.children.filter((c) => typeof c === 'string' || c.name !== 'backingStore');
      return disk;
    }
  }
  return `No disk found whose source path or target is ${path}`;
}

type MediaAction = 'eject' | 'insert' | 'update';

/** virshUpdateDiskXML: the disk with its source replaced (or removed, for eject). */
function updateDiskXml(
  disk: XmlElement,
  source: string | undefined,
  block: boolean,
  target: string,
  type: MediaAction,
): string {
  const device = attr(disk, 'device');
  if (device !== 'cdrom' && device !== 'floppy')
    throw new Error(`The disk device '${target}' is not removable`);
  const index = disk.children.findIndex((c) => typeof c !== 'string' && c.name === 'source');
  const old = index >= 0 ? (disk.children[index] as XmlElement) : undefined;
  if (type === 'eject') {
    if (!old) throw new Error(`The disk device '${target}' doesn't have media`);
    source = undefined;
    block = false;
  } else if (!source) {
    throw new Error('New disk media source was not specified');
  }
  let startupPolicy: string | undefined;
  if (old) {
    const path = ['file', 'dev', 'dir', 'pool', 'name'].map((a) => attr(old, a)).find((v) => v !== undefined);
    if (path && type === 'insert') throw new Error(`The disk device '${target}' already has media`);
    startupPolicy = attr(old, 'startupPolicy');
    disk.children.splice(index, 1);
  }
  disk.attributes.type = block ? 'block' : 'file';
  if (source) {
    const el: XmlElement = {
      name: 'source',
      attributes: { [block ? 'dev' : 'file']: source, ...(startupPolicy ? { startupPolicy } : {}) },
      children: [],
    };
    // before <target>, as virsh places it
    const t = disk.children.findIndex((c) => typeof c !== 'string' && c.name === 'target');
    disk.children.splice(t < 0 ? disk.children.length : t, 0, el);
  }
  return `${formatXml(disk)}\n`;
}

/** cmdChangeMedia. */
export const changeMediaCommand: CommandDef = {
  name: 'change-media',
  help: 'Change media of CD or floppy drive',
  desc: 'Change media of CD or floppy drive.',
  options: [
    DOMAIN_OPT,
    { name: 'path', type: 'data', required: true, help: 'Fully-qualified path or target of disk device' },
    { name: 'source', type: 'data', help: 'source of the media' },
    { name: 'eject', type: 'bool', help: 'Eject the media' },
    { name: 'insert', type: 'bool', help: 'Insert the media' },
    { name: 'update', type: 'bool', help: 'Update the media' },
    {
      name: 'current',
      type: 'bool',
      help: 'can be either or both of --live and --config, depends on implementation hypervisor driver',
    },
    { name: 'live', type: 'bool', help: 'alter live configuration of running domain' },
    { name: 'config', type: 'bool', help: 'alter persistent configuration, effect observed on next boot' },
    { name: 'force', type: 'bool', help: 'force media changing' },
    { name: 'print-xml', type: 'bool', help: 'print XML document rather than change media' },
    { name: 'block', type: 'bool', help: 'source media is a block device' },
  ],
  async run(session, opts) {
    return withDriver(session, async (conn) => {
      exclusive(opts, [
        ['eject', 'insert'],
        ['eject', 'update'],
        ['insert', 'update'],
        ['eject', 'block'],
      ]);
      const source = opts.source as string | undefined;
      let eject = Boolean(opts.eject);
      let update = Boolean(opts.update);
      // "update without source is eject"
      if (update && !source) {
        update = false;
        eject = true;
      }
      const action: MediaAction = eject ? 'eject' : opts.insert ? 'insert' : 'update';
      const success = {
        eject: 'Successfully ejected media.',
        insert: 'Successfully inserted media.',
        update: 'Successfully updated media.',
      }[action];
      exclusive(opts, [
        ['current', 'live'],
        ['current', 'config'],
      ]);
      const flags =
        (opts.config ? A.CONFIG : 0) | (opts.live ? A.LIVE : 0) | (opts.force ? DEVICE_MODIFY_FORCE : 0);
      const dom = await lookupDomain(conn, opts.domain as string);
      const path = opts.path as string;
      const doc = await conn.domainGetXMLDesc(dom, flags & A.CONFIG ? 2 : 0);
      const found = findChangeableDisk(doc, path);
      let xml: string;
      try {
        if (typeof found === 'string') throw new Error(found);
        xml = updateDiskXml(found, source, Boolean(opts.block), path, action);
      } catch (err) {
        session.io.err(`error: ${(err as Error).message}\n`);
        print(session.io, '');
        return false;
      }
      if (opts['print-xml']) {
        print(session.io, xml.replace(/\n$/, ''));
        return true;
      }
      await reporting(session.io, `Failed to complete action ${action} on media`, () =>
        conn.domainUpdateDeviceFlags(dom, xml, flags),
      );
      print(session.io, success);
      return true;
    });
  },
};

const NET_TYPES = new Set([
  'user',
  'ethernet',
  'vhostuser',
  'server',
  'client',
  'mcast',
  'network',
  'bridge',
  'internal',
  'direct',
  'hostdev',
  'udp',
  'vdpa',
  'null',
  'vds',
]);

/** cmdAttachInterface: the interface XML virsh builds, attached. */
export const attachInterfaceCommand: CommandDef = {
  name: 'attach-interface',
  help: 'attach network interface',
  desc: 'Attach new network interface.',
  options: [
    DOMAIN_OPT,
    { name: 'type', type: 'data', required: true, help: 'network interface type' },
    { name: 'source', type: 'data', required: true, help: 'source of network interface' },
    { name: 'target', type: 'string', help: 'target network name' },
    { name: 'mac', type: 'string', help: 'MAC address' },
    { name: 'script', type: 'string', help: 'script used to bridge network interface' },
    { name: 'model', type: 'string', help: 'model type' },
    { name: 'alias', type: 'string', help: 'custom alias name of interface device' },
    { name: 'inbound', type: 'string', help: "control domain's incoming traffics" },
    { name: 'outbound', type: 'string', help: "control domain's outgoing traffics" },
    ...AFFECT_OPTS,
    { name: 'print-xml', type: 'bool', help: 'print XML document rather than attach the interface' },
    {
      name: 'managed',
      type: 'bool',
      help: 'libvirt will automatically detach/attach the device from/to host',
    },
    { name: 'source-mode', type: 'string', help: 'mode attribute of <source/> element' },
  ],
  async run(session, opts) {
    return withDriver(session, async (conn) => {
      exclusive(opts, [
        ['persistent', 'current'],
        ['current', 'live'],
        ['current', 'config'],
      ]);
      let flags = (opts.config || opts.persistent ? A.CONFIG : 0) | (opts.live ? A.LIVE : 0);
      const type = opts.type as string;
      const source = opts.source as string;
      const refuse = (msg: string) => {
        session.io.err(`error: ${msg}\n`);
        print(session.io, '');
        return false;
      };
      if (!NET_TYPES.has(type)) return refuse(`No support for ${type} in command 'attach-interface'`);
      const lines = [`<interface type='${type}'${opts.managed ? " managed='yes'" : ''}>`];
      switch (type) {
        case 'network':
        case 'bridge':
          lines.push(`  <source ${type}='${source}'/>`);
          break;
        case 'direct':
          lines.push(`  <source dev='${source}'/>`);
          break;
        case 'vhostuser': {
          const mode = opts['source-mode'] as string | undefined;
          if (!mode) return refuse('source-mode is mandatory');
          lines.push(`  <source type='unix' path='${source}' mode='${mode}'/>`);
          break;
        }
        default:
          return refuse(`No support for ${type} in command 'attach-interface'`);
      }
      if (opts.target) lines.push(`  <target dev='${opts.target}'/>`);
      if (opts.mac) lines.push(`  <mac address='${opts.mac}'/>`);
      if (opts.script) lines.push(`  <script path='${opts.script}'/>`);
      if (opts.model) lines.push(`  <model type='${opts.model}'/>`);
      if (opts.alias) lines.push(`  <alias name='${opts.alias}'/>`);
      lines.push('</interface>');
      const xml = `${lines.join('\n')}\n`;
      if (opts['print-xml']) {
        print(session.io, xml);
        return true;
      }
      const dom = await lookupDomain(conn, opts.domain as string);
      if (opts.persistent && (await conn.domainIsActive(dom)) === 1) flags |= A.LIVE;
      await reporting(session.io, 'Failed to attach interface', () =>
        flags || opts.current
          ? conn.domainAttachDeviceFlags(dom, xml, flags)
          : conn.domainAttachDevice(dom, xml),
      );
      print(session.io, 'Interface attached successfully\n');
      return true;
    });
  },
};

/** virshDomainDetachInterface: the one interface of `type` (and `mac`) in `doc`, detached. */
async function detachInterfaceFrom(
  conn: Parameters<Parameters<typeof withDriver>[1]>[0],
  dom: Awaited<ReturnType<typeof lookupDomain>>,
  doc: string,
  flags: number,
  current: boolean,
  type: string,
  mac: string | undefined,
  printXml: (xml: string) => void,
  printOnly: boolean,
): Promise<string | undefined> {
  const domain = parseXml(doc, '(domain_definition)');
  const nets = (child(domain, 'devices')?.children ?? []).filter(
    (c): c is XmlElement => typeof c !== 'string' && c.name === 'interface' && c.attributes.type === type,
  );
  if (nets.length === 0) return `No interface found whose type is ${type}`;
  let match: XmlElement | undefined;
  if (mac) {
    for (const n of nets) {
      const m = attr(child(n, 'mac'), 'address');
      if (m && m.toLowerCase() === mac.toLowerCase()) {
        if (match) {
          return `Domain has multiple interfaces matching MAC address ${mac}. You must use detach-device and specify the device pci address to remove it.`;
        }
        match = n;
      }
    }
  } else {
    if (nets.length > 1)
      return `Domain has ${nets.length} interfaces. Please specify which one to detach using --mac`;
    match = nets[0];
  }
  if (!match) return `No interface with MAC address ${mac} was found`;
  const xml = formatXml(match);
  if (printOnly) {
    printXml(xml);
    return undefined;
  }
  if (flags !== 0 || current) await conn.domainDetachDeviceFlags(dom, xml, flags);
  else await conn.domainDetachDevice(dom, xml);
  return undefined;
}

/** cmdDetachInterface. */
export const detachInterfaceCommand: CommandDef = {
  name: 'detach-interface',
  help: 'detach network interface',
  desc: 'Detach network interface.',
  options: [
    DOMAIN_OPT,
    { name: 'type', type: 'data', required: true, help: 'network interface type' },
    { name: 'mac', type: 'string', help: 'MAC address' },
    ...AFFECT_OPTS,
    { name: 'print-xml', type: 'bool', help: 'print XML document rather than detach the interface' },
  ],
  async run(session, opts) {
    return withDriver(session, async (conn) => {
      exclusive(opts, [
        ['persistent', 'current'],
        ['current', 'live'],
        ['current', 'config'],
      ]);
      const dom = await lookupDomain(conn, opts.domain as string);
      const type = opts.type as string;
      const mac = opts.mac as string | undefined;
      const printXml = Boolean(opts['print-xml']);
      const show = (xml: string) => print(session.io, xml);
      const fail = () => {
        session.io.err('error: Failed to detach interface\n');
        print(session.io, '');
      };
      const run = async (doc: string, flags: number) => {
        const why = await detachInterfaceFrom(
          conn,
          dom,
          doc,
          flags,
          Boolean(opts.current),
          type,
          mac,
          show,
          printXml,
        );
        if (why) {
          session.io.err(`error: ${why}\n`);
          return false;
        }
        return true;
      };
      const affectConfig = Boolean(opts.config || opts.persistent);
      try {
        if (affectConfig && !(await run(await conn.domainGetXMLDesc(dom, 2), A.CONFIG))) {
          fail();
          return false;
        }
        const affectLive = Boolean(opts.live || (opts.persistent && (await conn.domainIsActive(dom)) === 1));
        if (
          (affectLive || !affectConfig) &&
          !(await run(await conn.domainGetXMLDesc(dom, 0), affectLive ? A.LIVE : 0))
        ) {
          fail();
          return false;
        }
      } catch (err) {
        fail();
        throw err;
      }
      if (printXml) return true;
      print(session.io, 'Interface detached successfully\n');
      return true;
    });
  },
};

/** cmdDetachDeviceAlias. */
export const detachDeviceAliasCommand: CommandDef = {
  name: 'detach-device-alias',
  help: 'detach device from an alias',
  desc: 'Detach device identified by the given alias from a domain',
  options: [
    DOMAIN_OPT,
    { name: 'alias', type: 'data', required: true, help: 'device alias' },
    { name: 'config', type: 'bool', help: 'affect next boot' },
    { name: 'live', type: 'bool', help: 'affect running domain' },
    { name: 'current', type: 'bool', help: 'affect current domain' },
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      exclusive(opts, [
        ['current', 'live'],
        ['current', 'config'],
      ]);
      const flags = (opts.config ? A.CONFIG : 0) | (opts.live ? A.LIVE : 0);
      const dom = await lookupDomain(conn, opts.domain as string);
      const alias = opts.alias as string;
      await reporting(session.io, `Failed to detach device with alias ${alias}`, () =>
        conn.domainDetachDeviceAlias(dom, alias, flags),
      );
      print(session.io, 'Device detach request sent successfully\n');
    });
  },
};
