/**
 * The status file of a running domain (`runDir/NAME.xml`), shaped like libvirt's `<domstatus>`:
 * state, reason and pid, the monitor socket, when it started, and the full live definition.
 * A driver that starts again reads these back to reconnect to its guests.
 */
import { type DomainDef, formatDomainXML, parseDomainXML, parseXml, type XmlElement } from '@qvirt/core';
import type { DomainState, StateReason } from './state.js';

export interface DomainStatus {
  state: DomainState;
  reason: StateReason;
  pid: number;
  monitorPath: string;
  /** ISO time the process was started. */
  startTime: string;
  /** The domain's private directory (`libDir/domain-ID-NAME`). */
  libDir: string;
  logFile: string;
  /** The live definition (with `id`). */
  def: DomainDef;
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;').replace(/>/g, '&gt;');

export function formatStatus(status: DomainStatus): string {
  const domain = formatDomainXML(status.def)
    .trimEnd()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
  return [
    `<domstatus state='${status.state}' reason='${esc(status.reason)}' pid='${status.pid}'>`,
    `  <monitor path='${esc(status.monitorPath)}' type='unix'/>`,
    `  <qvirt startTime='${esc(status.startTime)}' libDir='${esc(status.libDir)}' logFile='${esc(status.logFile)}'/>`,
    domain,
    '</domstatus>',
    '',
  ].join('\n');
}

export function parseStatus(text: string, source: string): DomainStatus {
  const root = parseXml(text, source);
  if (root.name !== 'domstatus') throw new Error(`${source}: not a domain status file`);
  const child = (name: string) =>
    root.children.find((c): c is XmlElement => typeof c !== 'string' && c.name === name);
  const monitor = child('monitor');
  const qvirt = child('qvirt');
  const start = text.indexOf('<domain ');
  const end = text.lastIndexOf('</domain>');
  if (start < 0 || end < 0) throw new Error(`${source}: no <domain> in status`);
  const def = parseDomainXML(text.slice(start, end + '</domain>'.length), { source, live: true });
  return {
    state: (root.attributes.state ?? 'running') as DomainState,
    reason: (root.attributes.reason ?? 'unknown') as StateReason,
    pid: Number(root.attributes.pid),
    monitorPath: monitor?.attributes.path ?? '',
    startTime: qvirt?.attributes.startTime ?? '',
    libDir: qvirt?.attributes.libDir ?? '',
    logFile: qvirt?.attributes.logFile ?? '',
    def,
  };
}
