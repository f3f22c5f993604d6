/**
 * An interface's `<bandwidth>` (qemu_driver.c qemuDomainGetInterfaceParameters and
 * qemuDomainSetInterfaceParameters): the seven VIR_DOMAIN_BANDWIDTH_* parameters read from the
 * definition, and changed in the persistent definition and, live, on the host side of the
 * interface with `tc` as virnetdevbandwidth.c's virNetDevBandwidthSet does: the guest's outbound
 * traffic is what the tap receives, so (except for macvtap, which shares the host's view) the
 * guest's inbound rate shapes the tap's egress with an HTB class and its outbound rate polices the
 * tap's ingress. A cleared rate gives the tap back the `noqueue` root qdisc libvirt sets
 * (qemuDomainInterfaceSetDefaultQDisc).
 */
import { spawnSync } from 'node:child_process';
import {
  type DomainDef,
  type DomainDevices,
  virCheckFlags,
  virReportError,
  virReportInvalidArg,
} from '@qvirt/core';
import {
  type TypedParam,
  type TypedParamsReply,
  VIR_DOMAIN_AFFECT,
  VIR_TYPED_PARAM,
  VIR_TYPED_PARAM_STRING_OKAY,
} from '@qvirt/core/hypervisor';
import { validateTypedParams } from './cgroup-tuning.js';
import { affectedDefs, copyDef, type LiveDomain } from './live-domain.js';
import { findInterface } from './net-interfaces.js';

type Net = NonNullable<DomainDevices['interface']>[number];

/** virNetDevBandwidthRate, kilobytes per second (burst and floor: kilobytes / kB/s). */
interface Rate {
  average?: number;
  peak?: number;
  burst?: number;
  floor?: number;
}
interface Bandwidth {
  inbound?: Rate;
  outbound?: Rate;
}

/** The parameters in libvirt's order (QEMU_NB_BANDWIDTH_PARAM), each a field of a rate. */
const PARAMS = [
  ['inbound.average', 'inbound', 'average'],
  ['inbound.peak', 'inbound', 'peak'],
  ['inbound.burst', 'inbound', 'burst'],
  ['inbound.floor', 'inbound', 'floor'],
  ['outbound.average', 'outbound', 'average'],
  ['outbound.peak', 'outbound', 'peak'],
  ['outbound.burst', 'outbound', 'burst'],
] as const;

const A = VIR_DOMAIN_AFFECT;
const UINT = VIR_TYPED_PARAM.UINT;

/** The definition's `<bandwidth>`, as numbers. */
function bandwidthOf(net: Net): Bandwidth | undefined {
  const bw = (net as { bandwidth?: Record<string, Record<string, unknown> | undefined> }).bandwidth;
  if (!bw) return undefined;
  const rate = (r: Record<string, unknown> | undefined): Rate | undefined =>
    r ? { average: num(r.average), peak: num(r.peak), burst: num(r.burst), floor: num(r.floor) } : undefined;
  const out: Bandwidth = {};
  const inbound = rate(bw.inbound);
  const outbound = rate(bw.outbound);
  if (inbound) out.inbound = inbound;
  if (outbound) out.outbound = outbound;
  return out;
}

/** virNetDevBandwidthFormat: a rate with average or floor, its non-zero attributes. */
function storeBandwidth(net: Net, bw: Bandwidth | undefined): void {
  const rate = (r: Rate | undefined) => {
    if (!r || !(r.average || r.floor)) return undefined;
    return Object.fromEntries(
      (['average', 'peak', 'floor', 'burst'] as const).filter((k) => r[k]).map((k) => [k, String(r[k])]),
    );
  };
  const inbound = rate(bw?.inbound);
  const outbound = rate(bw?.outbound);
  const n = net as { bandwidth?: unknown };
  if (inbound || outbound)
    n.bandwidth = { ...(inbound ? { inbound } : {}), ...(outbound ? { outbound } : {}) };
  else delete n.bandwidth;
}
const num = (v: unknown) => (v === undefined || v === null ? 0 : Number(v));

/** virDomainObjGetOneDef: the live or the persistent definition, never both. */
function oneDef(dom: LiveDomain, flags: number): DomainDef {
  if (flags & A.LIVE && flags & A.CONFIG)
    throw virReportInvalidArg(
      'domain',
      "Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually exclusive",
    );
  const defs = affectedDefs(dom, flags);
  return (defs.live ?? defs.config)!;
}

/** qemuDomainGetInterfaceParameters: with `nparams` 0, how many there are. */
export function getInterfaceParameters(
  dom: LiveDomain,
  device: string,
  nparams: number,
  flags: number,
): TypedParamsReply {
  virCheckFlags(flags, A.LIVE | A.CONFIG | VIR_TYPED_PARAM_STRING_OKAY, 'qemuDomainGetInterfaceParameters');
  const def = oneDef(dom, flags & ~VIR_TYPED_PARAM_STRING_OKAY);
  if (nparams === 0) return { params: [], nparams: PARAMS.length };
  const bw = bandwidthOf(findInterface(def, device));
  const params: TypedParam[] = PARAMS.slice(0, nparams).map(([field, dir, key]) => ({
    field,
    type: UINT,
    value: num(bw?.[dir]?.[key]),
  }));
  return { params, nparams: params.length };
}

/** virNetDevSupportsBandwidth. */
const QOS_TYPES = new Set(['bridge', 'network', 'direct', 'ethernet']);

/** What the live change runs: `tc` with its arguments, answering its exit status and stderr. */
export type TcRunner = (args: string[]) => { status: number; stderr: string };

/** libvirt's TC: `tc` from the PATH, shown as such in its errors. */
const TC = 'tc';
export const runTc: TcRunner = (args) => {
  const r = spawnSync(TC, args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  return { status: r.status ?? 1, stderr: r.stderr ?? String(r.error ?? '') };
};

/** virCommandRun without a status: a failure is libvirt's "Child process (…) unexpected exit status N". */
function tc(run: TcRunner, args: string[]): void {
  const r = run(args);
  if (r.status !== 0)
    throw virReportError(
      'INTERNAL_ERROR',
      'none',
      `Child process (${[TC, ...args].join(' ')}) unexpected exit status ${r.status}${
        r.stderr.trim() ? `: ${r.stderr.trim()}` : ''
      }`,
    );
}

/** virNetDevBandwidthCmdAddOptimalQuantum: an HTB quantum of about one MTU at the rate. */
const quantum = (average: number) => [
  'quantum',
  String(Math.max(1, Math.floor((average * 1024) / 8 / 1500))),
];

/** virNetDevBandwidthSet (not hierarchical): the tap's qdiscs rebuilt for `bw`. */
export function bandwidthSet(run: TcRunner, ifname: string, bw: Bandwidth, swapped: boolean): void {
  const rx = swapped ? bw.outbound : bw.inbound;
  const tx = swapped ? bw.inbound : bw.outbound;
  // virNetDevBandwidthClear: whatever was there goes (their absence is no error)
  run(['qdisc', 'del', 'dev', ifname, 'root']);
  run(['qdisc', 'del', 'dev', ifname, 'ingress']);
  if (tx?.average) {
    const average = `${tx.average}kbps`;
    tc(run, ['qdisc', 'add', 'dev', ifname, 'root', 'handle', '1:', 'htb', 'default', '1']);
    tc(run, [
      'class',
      'add',
      'dev',
      ifname,
      'parent',
      '1:',
      'classid',
      '1:1',
      'htb',
      'rate',
      average,
      ...(tx.peak ? ['ceil', `${tx.peak}kbps`] : []),
      ...(tx.burst ? ['burst', `${tx.burst}kb`] : []),
      ...quantum(tx.average),
    ]);
    tc(run, ['qdisc', 'add', 'dev', ifname, 'parent', '1:1', 'handle', '2:', 'sfq', 'perturb', '10']);
    tc(run, [
      'filter',
      'add',
      'dev',
      ifname,
      'parent',
      '1:0',
      'protocol',
      'all',
      'prio',
      '1',
      'handle',
      '1',
      'fw',
      'flowid',
      '1',
    ]);
  }
  if (rx) {
    // tc keeps the burst in bytes as a uint: the default burst is capped to fit
    const burst = rx.burst
      ? `${rx.burst}kb`
      : `${Math.min(num(rx.average), Math.floor(0xffffffff / 1024))}kb`;
    tc(run, ['qdisc', 'add', 'dev', ifname, 'ingress']);
    tc(run, [
      'filter',
      'add',
      'dev',
      ifname,
      'parent',
      'ffff:',
      'protocol',
      'all',
      'u32',
      'match',
      'u32',
      '0',
      '0',
      'police',
      'rate',
      `${num(rx.average)}kbps`,
      'burst',
      burst,
      'mtu',
      '64kb',
      'drop',
      'flowid',
      ':1',
    ]);
  }
}

/** The host side of a running interface and whether its view is swapped (virDomainNetTypeSharesHostView). */
const hostSide = (net: Net) => ({ ifname: net.target?.dev, swapped: net.type !== 'direct' });

/** qemuDomainSetInterfaceParameters. */
export async function setInterfaceParameters(
  dom: LiveDomain,
  device: string,
  params: TypedParam[],
  flags: number,
  host: { privileged: boolean; run: TcRunner },
): Promise<void> {
  virCheckFlags(flags, A.LIVE | A.CONFIG, 'qemuDomainSetInterfaceParameters');
  validateTypedParams(params, Object.fromEntries(PARAMS.map(([f]) => [f, UINT])));
  const defs = affectedDefs(dom, flags);
  const live = defs.live ? copyDef(defs.live) : undefined;
  const config = defs.config ? copyDef(defs.config) : undefined;
  const net = live ? findInterface(live, device) : undefined;
  const pnet = config ? findInterface(config, device) : undefined;
  for (const n of [net, pnet]) {
    const type = n?.type ?? 'user';
    if (n && !QOS_TYPES.has(type))
      throw virReportError(
        'CONFIG_UNSUPPORTED',
        'qemu',
        `setting bandwidth on interfaces of type '${type}' is not implemented yet`,
      );
  }
  // the rates asked for; a direction without average (or floor) is not set
  const given: Bandwidth = { inbound: {}, outbound: {} };
  let inboundSpecified = false;
  let outboundSpecified = false;
  for (const p of params) {
    const spec = PARAMS.find(([f]) => f === p.field)!;
    given[spec[1]]![spec[2]] = Number(p.value);
    if (p.field === 'inbound.average' || p.field === 'inbound.floor') inboundSpecified = true;
    if (p.field === 'outbound.average') outboundSpecified = true;
  }
  if (!given.inbound?.average && !given.inbound?.floor) delete given.inbound;
  if (!given.outbound?.average) delete given.outbound;

  if (net && live) {
    const old = bandwidthOf(net);
    // virNetDevBandwidthSet starts afresh: a direction not given keeps its old rate
    const merged: Bandwidth = {};
    const inbound = given.inbound ?? (!inboundSpecified ? old?.inbound : undefined);
    const outbound = given.outbound ?? (!outboundSpecified ? old?.outbound : undefined);
    if (inbound) merged.inbound = { ...inbound };
    if (outbound) merged.outbound = { ...outbound };
    if (net.type !== 'network' && given.inbound?.floor)
      throw virReportError(
        'OPERATION_UNSUPPORTED',
        'qemu',
        `Invalid use of 'floor' on interface with MAC address ${net.mac?.address ?? ''} - 'floor' is only supported for interface type 'network' with forward type 'nat', 'route', 'open' or none`,
      );
    const { ifname, swapped } = hostSide(net);
    if (!host.privileged)
      throw virReportError(
        'OPERATION_UNSUPPORTED',
        'none',
        'Network bandwidth tuning is not available in session mode',
      );
    if (!ifname)
      throw virReportError(
        'OPERATION_UNSUPPORTED',
        'none',
        'Unable to set bandwidth for interface because device name is unknown',
      );
    try {
      bandwidthSet(host.run, ifname, merged, swapped);
    } catch (err) {
      // the old rates back, as far as they go
      // (virNetDevBandwidthSet of no bandwidth does nothing: a failed first setting stays half done)
      try {
        if (old) bandwidthSet(host.run, ifname, old, swapped);
      } catch {
        // the first failure is the one reported
      }
      throw err;
    }
    // a cleared shaping gives the tap libvirt's default root qdisc back
    const shaped = swapped ? merged.inbound : merged.outbound;
    if (host.privileged && !shaped?.average)
      host.run(['qdisc', 'add', 'dev', ifname, 'root', 'handle', '0:', 'noqueue']);
    storeBandwidth(net, merged);
    await dom.saveLive(live);
  }

  if (pnet && config) {
    const bw = bandwidthOf(pnet) ?? {};
    if (given.inbound) bw.inbound = given.inbound;
    else if (inboundSpecified) delete bw.inbound;
    if (given.outbound) bw.outbound = given.outbound;
    else if (outboundSpecified) delete bw.outbound;
    storeBandwidth(pnet, bw);
    await dom.saveConfig(config);
  }
}

/**
 * qemuBuildInterfaceConnect's end for a tap of the host: libvirt's default root qdisc (`noqueue`,
 * privileged only, its failure ignored: qemuDomainInterfaceSetDefaultQDisc), then the
 * definition's `<bandwidth>` (virNetDevBandwidthSet), whose failure fails the start.
 */
export function applyBandwidthAtStart(
  net: Net,
  ifname: string,
  privileged: boolean,
  run: TcRunner = runTc,
): void {
  if (privileged) run(['qdisc', 'add', 'dev', ifname, 'root', 'handle', '0:', 'noqueue']);
  const bw = bandwidthOf(net);
  if (!bw || !QOS_TYPES.has(net.type ?? 'user')) return;
  if (!privileged) {
    if (!bw.inbound && !bw.outbound) return;
    throw virReportError(
      'OPERATION_UNSUPPORTED',
      'none',
      'Network bandwidth tuning is not available in session mode',
    );
  }
  bandwidthSet(run, ifname, bw, net.type !== 'direct');
}
