/**
 * What libvirt's interface parser keeps (virDomainNetDefParseXML), which is less than the schema
 * accepts: `<filterref>` only for network, bridge and ethernet interfaces; the virtio-only driver
 * settings and `<backend vhost>` only for virtio models (one queue is the default, so not kept);
 * `<coalesce>` only as a non-zero rx frame count.
 */
import { randomUUID } from 'node:crypto';
import type { DomainDef } from '@qvirt/core';

const VIRTIO_MODELS = new Set(['virtio', 'virtio-transitional', 'virtio-non-transitional']);
const FILTERREF_TYPES = new Set(['network', 'bridge', 'ethernet']);
/** `<driver>` attributes that are not virtio-specific (virDomainVirtioOptionsParseXML). */
const VIRTIO_OPTIONS = ['iommu', 'ats', 'packed', 'page_per_vq'] as const;
/** The interface types whose `<virtualport>` gets generated IDs (VIR_VPORT_XML_GENERATE_MISSING_DEFAULTS). */
const VPORT_DEFAULT_TYPES = new Set(['network', 'bridge', 'direct', 'hostdev']);

type Net = NonNullable<NonNullable<DomainDef['devices']>['interface']>[number];
type Loose = Record<string, unknown>;

export function netParseQuirks(def: DomainDef): void {
  for (const net of def.devices?.interface ?? []) {
    const n = net as Net & Loose;
    const virtio =
      VIRTIO_MODELS.has((n.model as { type?: string } | undefined)?.type ?? '') && n.type !== 'hostdev';
    if (!FILTERREF_TYPES.has(String(n.type))) delete n.filterref;
    const driver = n.driver as Loose | undefined;
    if (driver && !virtio && n.type !== 'hostdev') {
      const kept: Loose = {};
      for (const k of VIRTIO_OPTIONS) if (driver[k] !== undefined) kept[k] = driver[k];
      if (Object.keys(kept).length > 0) n.driver = kept as Net['driver'];
      else delete n.driver;
    } else if (driver?.queues === 1) delete driver.queues;
    const backend = n.backend as Loose | undefined;
    if (backend && !virtio) {
      delete backend.vhost;
      if (Object.keys(backend).length === 0) delete n.backend;
    }
    // virNetDevVPortProfileParse: an 802.1Qbg (or untyped) port gets an instanceid, an Open vSwitch
    // (or untyped) one an interfaceid, when the document has none
    const vport = n.virtualport as { type?: string; parameters?: Record<string, unknown> } | undefined;
    if (vport && VPORT_DEFAULT_TYPES.has(String(n.type))) {
      const type = vport.type ?? 'none';
      if ((type === '802.1Qbg' || type === 'none') && vport.parameters?.instanceid === undefined)
        vport.parameters = { ...vport.parameters, instanceid: randomUUID() };
      if ((type === 'openvswitch' || type === 'none') && vport.parameters?.interfaceid === undefined)
        vport.parameters = { ...vport.parameters, interfaceid: randomUUID() };
    }
    // an auto-generated tap or macvtap name is blanked out in an inactive definition
    const target = n.target as { dev?: string; managed?: string } | undefined;
    if (target?.dev !== undefined && target.managed !== 'no' && /^(vnet|macvtap|macvlan)/.test(target.dev)) {
      delete target.dev;
      if (Object.keys(target).length === 0) delete n.target;
    }
    // virNetDevBandwidthParse keeps nothing of a <bandwidth> without rates
    const bw = n.bandwidth as { inbound?: unknown; outbound?: unknown } | undefined;
    if (bw && bw.inbound === undefined && bw.outbound === undefined) delete n.bandwidth;
    const frames = (n.coalesce as { rx?: { frames?: { max?: number } } } | undefined)?.rx?.frames?.max;
    if (n.coalesce !== undefined) {
      if (frames) n.coalesce = { rx: { frames: { max: frames } } } as Net['coalesce'];
      else delete n.coalesce;
    }
  }
}
