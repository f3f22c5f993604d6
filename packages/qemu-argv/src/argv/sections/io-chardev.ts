/**
 * Character device backends: the `-chardev` option of a serial, parallel, channel, console,
 * smartcard, redirdev, RNG or TPM (libvirt's qemuBuildChardevStr / qemuBuildChardevCommand), and
 * the `tls-creds-x509` object a TLS tcp chardev needs first.
 */
import { CHARDEV_TYPES, type DomainDevices, virReportError } from '@qvirt/core';
import { add, type Build } from '../build.js';
import { jsonProps, optsValue } from '../props.js';

type ChardevSourceDef = NonNullable<NonNullable<DomainDevices['serial']>[number]['source']>[number];

/** What libvirt's chardev source holds, as the devices of the schema carry it. */
export interface ChardevSpec {
  type?: string;
  source?: ChardevSourceDef[];
  protocol?: { type?: string };
  log?: { file?: string; append?: 'on' | 'off' };
}

/** Which spicevmc channel a device's `type='spicevmc'` source is (virDomainChrSpicevmc). */
export type SpicevmcName = 'vdagent' | 'smartcard' | 'usbredir';

/** The bind and connect halves of a source (udp has both; tcp/unix have one with a mode). */
function sourceByMode(spec: ChardevSpec, mode: 'bind' | 'connect'): ChardevSourceDef | undefined {
  return (spec.source ?? []).find((s) => (s.mode ?? 'connect') === mode);
}

function reconnectOpt(src: ChardevSourceDef | undefined): string {
  const r = src?.reconnect;
  if (r?.enabled === 'yes') return `,reconnect=${r.timeout ?? 0}`;
  if (r?.enabled === 'no') return ',reconnect=0';
  return '';
}

/** Whether a tcp chardev uses TLS: its `tls` attribute, else qemu.conf's `chardev_tls`. */
function tcpHasTls(b: Build, src: ChardevSourceDef | undefined): boolean {
  if (src?.tls === 'yes') return true;
  if (src?.tls === 'no') return false;
  return b.ctx.conf.chardevTls;
}

/** The `-chardev` value (qemuBuildChardevStr). */
/**
 * How a device's chardev is opened: `spicevmc` names the spice channel of a spicevmc source, `wait`
 * (vhost-user interfaces of a starting domain) keeps QEMU waiting for a listening socket's peer.
 */
export interface ChardevOptions {
  spicevmc?: SpicevmcName;
  wait?: boolean;
}

export function chardevStr(b: Build, spec: ChardevSpec, alias: string, opts: ChardevOptions = {}): string {
  const first = spec.source?.[0];
  const path = (p: string | undefined) => optsValue(p ?? '');
  let out: string;
  switch (spec.type ?? 'null') {
    case 'null':
      out = `null,id=${alias}`;
      break;
    case 'vc':
      out = `vc,id=${alias}`;
      break;
    case 'pty':
      out = `pty,id=${alias}`;
      break;
    case 'dev':
      out = `${alias.startsWith('charparallel') ? 'parallel' : 'serial'},id=${alias},path=${path(first?.path)}`;
      break;
    case 'file':
      out = `file,id=${alias},path=${path(first?.path)}`;
      if (first?.append) out += `,append=${first.append}`;
      break;
    case 'pipe':
      out = `pipe,id=${alias},path=${path(first?.path)}`;
      break;
    case 'stdio':
      out = `stdio,id=${alias}`;
      break;
    case 'udp': {
      const connect = sourceByMode(spec, 'connect');
      const bind = sourceByMode(spec, 'bind');
      out =
        `udp,id=${alias},host=${connect?.host ?? ''},port=${connect?.service ?? ''}` +
        `,localaddr=${bind?.host ?? ''},localport=${bind?.service ?? '0'}`;
      break;
    }
    case 'tcp': {
      const listen = first?.mode === 'bind';
      out = `socket,id=${alias},host=${first?.host ?? ''},port=${first?.service ?? ''}`;
      if (spec.protocol?.type === 'telnet') out += ',telnet=on';
      if (listen) out += opts.wait ? ',server=on' : ',server=on,wait=off';
      out += reconnectOpt(first);
      if (tcpHasTls(b, first)) out += `,tls-creds=obj${alias}_tls0`;
      break;
    }
    case 'unix':
      out = `socket,id=${alias},path=${path(first?.path)}`;
      if (first?.mode === 'bind') out += opts.wait ? ',server=on' : ',server=on,wait=off';
      out += reconnectOpt(first);
      break;
    case 'spicevmc':
      out = `spicevmc,id=${alias},name=${opts.spicevmc ?? 'vdagent'}`;
      break;
    case 'spiceport':
      out = `spiceport,id=${alias},name=${first?.channel ?? ''}`;
      break;
    case 'qemu-vdagent': {
      out = `qemu-vdagent,id=${alias},name=vdagent`;
      const copypaste = first?.clipboard?.copypaste;
      if (copypaste) out += `,clipboard=${copypaste === 'yes' ? 'on' : 'off'}`;
      const mouse = first?.mouse?.mode;
      if (mouse === 'client') out += ',mouse=on';
      else if (mouse === 'server') out += ',mouse=off';
      break;
    }
    case 'dbus':
      out = `dbus,id=${alias},name=${first?.channel ?? ''}`;
      break;
    default:
      throw virReportError('CONFIG_UNSUPPORTED', 'qemu', `unsupported chardev '${spec.type}'`);
  }
  if (spec.log?.file) {
    out += `,logfile=${optsValue(spec.log.file)}`;
    if (spec.log.append) out += `,logappend=${spec.log.append}`;
  }
  return out;
}

/**
 * Adds a device's character device (qemuBuildChardevCommand): for a TLS tcp chardev, its
 * `tls-creds-x509` object first, then `-chardev`.
 */
export function addChardev(b: Build, spec: ChardevSpec, alias: string, opts: ChardevOptions = {}): void {
  if (spec.type === 'nmdm' || (spec.type && !KNOWN.has(spec.type))) {
    throw virReportError('CONFIG_UNSUPPORTED', 'qemu', `unsupported chardev '${spec.type}'`);
  }
  if (spec.type === 'tcp') {
    const src = spec.source?.[0];
    if (tcpHasTls(b, src)) {
      const conf = b.ctx.conf;
      if (conf.chardevTlsX509SecretUuid ?? conf.defaultTlsX509SecretUuid) {
        throw virReportError(
          'CONFIG_UNSUPPORTED',
          'qemu',
          'chardev TLS with an encrypted key (chardev_tls_x509_secret_uuid) is not supported',
        );
      }
      const listen = src?.mode === 'bind';
      const verify = conf.chardevTlsX509Verify ?? conf.defaultTlsX509Verify ?? true;
      add(
        b,
        '-object',
        jsonProps({
          'qom-type': 'tls-creds-x509',
          id: `obj${alias}_tls0`,
          dir: conf.chardevTlsX509CertDir ?? conf.defaultTlsX509CertDir,
          endpoint: listen ? 'server' : 'client',
          'verify-peer': listen ? verify : true,
        }),
      );
    }
  }
  add(b, '-chardev', chardevStr(b, spec, alias, opts));
}

/** virDomainChrType: core's one list. */
const KNOWN = new Set<string>(CHARDEV_TYPES);
