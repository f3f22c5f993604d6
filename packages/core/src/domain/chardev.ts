/**
 * Character devices: `<serial>`, `<parallel>`, `<console>`, `<channel>`, and the character device
 * source they share with `<smartcard mode='passthrough'>`, `<redirdev>` and others.
 *
 * Order follows libvirt 9.0's virDomainChrDefFormat: the source part (virDomainChrSourceDefFormat:
 * `<source>` (twice for udp: bind, then connect), `<protocol>` (tcp), `<log>`), then `<target>`
 * (virDomainChrTargetDefFormat), then the device info (alias, address, ...).
 */
import type { Infer } from '../schema/schema.js';
import { element, leaf, many, one } from '../schema/schema.js';
import { enumOf, int, onOff, str, uint, yesNo } from '../schema/value-types.js';
import { deviceInfoChildren } from './common.js';

/** virDomainChrType: the `type` attribute of every character device and chardev-backed device. */
export const CHARDEV_TYPES = [
  'null',
  'vc',
  'pty',
  'dev',
  'file',
  'pipe',
  'stdio',
  'udp',
  'tcp',
  'unix',
  'spicevmc',
  'spiceport',
  'nmdm',
  'qemu-vdagent',
  'dbus',
] as const;
export const chardevType = enumOf(...CHARDEV_TYPES);
export type ChardevType = (typeof CHARDEV_TYPES)[number];

/** `<seclabel>` inside a character device `<source>` (virSecurityDeviceLabelDefFormat). */
export const chardevSeclabel = element({
  attrs: { model: str(), labelskip: yesNo(), relabel: yesNo() },
  children: { label: one(leaf(str())) },
});

/** `<reconnect>` of tcp/unix sources (virDomainChrSourceReconnectDefFormat). */
export const chardevReconnect = element({ attrs: { enabled: yesNo(), timeout: uint() } });

/**
 * `<source>` of a character device. One element covers every chardev type; the attribute order is
 * the one each type prints in: file `path append`, unix `mode path`, tcp `mode host service tls`,
 * udp `mode host service`, nmdm `master slave`, spiceport/dbus `channel`.
 */
export const chardevSource = element({
  attrs: {
    mode: enumOf('bind', 'connect'),
    path: str(),
    append: onOff(),
    host: str(),
    service: str(),
    tls: yesNo(),
    /** Status XML only. */
    tlsFromConfig: int(),
    master: str(),
    slave: str(),
    channel: str(),
  },
  children: {
    seclabel: many(chardevSeclabel),
    reconnect: one(chardevReconnect),
    /** qemu-vdagent */
    clipboard: one(element({ attrs: { copypaste: yesNo() } })),
    /** qemu-vdagent */
    mouse: one(element({ attrs: { mode: enumOf('server', 'client') } })),
  },
});
export type ChardevSourceDef = Infer<typeof chardevSource>;

export const chardevProtocol = element({ attrs: { type: enumOf('raw', 'telnet', 'telnets', 'tls') } });
export const chardevLog = element({ attrs: { file: str(), append: onOff() } });

/**
 * The children libvirt's virDomainChrSourceDefFormat prints, to spread into a device's children
 * where its chardev source belongs. `source` is a list: a udp chardev has a bind and a connect one.
 */
export const chardevSourceChildren = {
  source: many(chardevSource),
  protocol: one(chardevProtocol),
  log: one(chardevLog),
} as const;

// ---------------------------------------------------------------------------------------------
// Targets (virDomainChrTargetDefFormat)

/** The `port` of serial, parallel and console targets: libvirt's virStrToLong_ui takes `-1` too. */
const chrPort = int();

export const serialTarget = element({
  attrs: {
    type: enumOf(
      'none',
      'isa-serial',
      'usb-serial',
      'pci-serial',
      'spapr-vio-serial',
      'system-serial',
      'sclp-serial',
      'isa-debug',
    ),
    port: chrPort,
  },
  children: {
    model: one(
      element({
        attrs: {
          name: enumOf(
            'none',
            'isa-serial',
            'usb-serial',
            'pci-serial',
            'spapr-vty',
            'pl011',
            'sclpconsole',
            'sclplmconsole',
            '16550a',
            'isa-debugcon',
          ),
        },
      }),
    ),
  },
});

/** libvirt has no parallel target types; a `type` given is accepted and ignored. */
export const parallelTarget = element({ attrs: { type: str(), port: chrPort } });

export const consoleTarget = element({
  attrs: {
    type: enumOf('none', 'serial', 'xen', 'uml', 'virtio', 'lxc', 'openvz', 'sclp', 'sclplm'),
    port: chrPort,
  },
});

export const channelTarget = element({
  attrs: {
    type: enumOf('none', 'guestfwd', 'virtio', 'xen'),
    /** guestfwd: IPv4 address */
    address: str(),
    /** guestfwd */
    port: uint(),
    /** virtio, xen */
    name: str(),
    /** virtio, live XML only */
    state: enumOf('connected', 'disconnected'),
  },
});

// ---------------------------------------------------------------------------------------------
// Devices

export const serial = element({
  attrs: { type: chardevType },
  children: { ...chardevSourceChildren, target: one(serialTarget), ...deviceInfoChildren },
});

export const parallel = element({
  attrs: { type: chardevType },
  children: { ...chardevSourceChildren, target: one(parallelTarget), ...deviceInfoChildren },
});

export const console = element({
  attrs: {
    type: chardevType,
    /** Legacy `<console tty='/dev/pts/N'>` that libvirt prints on live XML; ignored on input. */
    tty: str(),
  },
  children: { ...chardevSourceChildren, target: one(consoleTarget), ...deviceInfoChildren },
});

export const channel = element({
  attrs: { type: chardevType },
  children: { ...chardevSourceChildren, target: one(channelTarget), ...deviceInfoChildren },
});

export type SerialDef = Infer<typeof serial>;
export type ParallelDef = Infer<typeof parallel>;
export type ConsoleDef = Infer<typeof console>;
export type ChannelDef = Infer<typeof channel>;
