/**
 * domiftune: virsh's cmdDomIftune (virsh-domain.c), an interface's `<bandwidth>`: printed as
 * `field          : value` lines without --inbound/--outbound, set otherwise (rates as
 * virshParseRateStr reads them: `average,peak,burst,floor`, empty fields left out).
 */
import { type TypedParam, VIR_TYPED_PARAM } from '@qvirt/core/hypervisor';
import { type CommandDef, usageError } from '../command.js';
import { DOMAIN_OPT, lookupDomain, print, reporting, withDriver } from '../driver-connection.js';
import { affectFlags } from './domain-resources.js';

interface Rate {
  average: number;
  peak: number;
  burst: number;
  floor: number;
}

const UINT_MAX = 0xffffffff;

/** virshParseRateStr. */
function parseRate(text: string): Rate {
  const tok = text.split(',');
  if (tok.length > 4) throw usageError(`Rate string '${text}' has too many fields`);
  const rate: Rate = { average: 0, peak: 0, burst: 0, floor: 0 };
  (['average', 'peak', 'burst', 'floor'] as const).forEach((name, i) => {
    const t = tok[i];
    if (t === undefined || t === '') return;
    if (!/^\d+$/.test(t)) throw usageError(`field '${name}' is malformed`);
    rate[name] = Number(t);
  });
  return rate;
}

const uint = (field: string, value: number): TypedParam => ({ field, type: VIR_TYPED_PARAM.UINT, value });

export const domiftuneCommand: CommandDef = {
  name: 'domiftune',
  help: 'get/set parameters of a virtual interface',
  desc: "Get/set parameters of a domain's virtual interface.",
  options: [
    DOMAIN_OPT,
    { name: 'interface', type: 'data', required: true, help: 'interface device (MAC Address)' },
    { name: 'inbound', type: 'string', help: "control domain's incoming traffics" },
    { name: 'outbound', type: 'string', help: "control domain's outgoing traffics" },
    { name: 'config', type: 'bool', help: 'affect next boot' },
    { name: 'live', type: 'bool', help: 'affect running domain' },
    { name: 'current', type: 'bool', help: 'affect current domain' },
  ],
  async run(session, opts) {
    const flags = affectFlags(opts);
    await withDriver(session, async (c) => {
      const dom = await lookupDomain(c, opts.domain as string);
      const device = opts.interface as string;
      const params: TypedParam[] = [];
      if (typeof opts.inbound === 'string') {
        const r = parseRate(opts.inbound);
        if (r.average > UINT_MAX || r.peak > UINT_MAX || r.burst > UINT_MAX)
          throw usageError(`inbound rate larger than maximum ${UINT_MAX}`);
        if (!r.average && (r.burst || r.peak) && !r.floor)
          throw usageError('either inbound average or floor is mandatory');
        params.push(uint('inbound.average', r.average));
        if (r.peak) params.push(uint('inbound.peak', r.peak));
        if (r.burst) params.push(uint('inbound.burst', r.burst));
        if (r.floor) params.push(uint('inbound.floor', r.floor));
      }
      if (typeof opts.outbound === 'string') {
        const r = parseRate(opts.outbound);
        if (r.average > UINT_MAX || r.peak > UINT_MAX || r.burst > UINT_MAX)
          throw usageError(`outbound rate larger than maximum ${UINT_MAX}`);
        if (r.average === 0 && (r.burst || r.peak)) throw usageError('outbound average is mandatory');
        if (r.floor) throw usageError('outbound floor is unsupported yet');
        params.push(uint('outbound.average', r.average));
        if (r.peak) params.push(uint('outbound.peak', r.peak));
        if (r.burst) params.push(uint('outbound.burst', r.burst));
      }
      if (params.length === 0) {
        const { nparams } = await reporting(session.io, 'Unable to get number of interface parameters', () =>
          c.domainGetInterfaceParameters(dom, device, 0, flags),
        );
        if (nparams === 0) return;
        const got = await reporting(session.io, 'Unable to get interface parameters', () =>
          c.domainGetInterfaceParameters(dom, device, nparams, flags),
        );
        print(session.io, got.params.map((p) => `${p.field.padEnd(15)}: ${p.value}\n`).join(''));
        return;
      }
      await reporting(session.io, 'Unable to set interface parameters', () =>
        c.domainSetInterfaceParameters(dom, device, params, flags),
      );
      print(session.io, '');
    });
  },
};
