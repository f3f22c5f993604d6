/**
 * The `-blockdev` layers of a storage source (qemu_block.c): the storage (protocol) layer
 * (qemuBlockStorageSourceGetBackendProps), the format layer
 * (qemuBlockStorageSourceGetBlockdevProps) and the objects they depend on (secrets, TLS
 * credentials, persistent-reservation managers).
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { type DomainDef, VirError, virReportError } from '@qvirt/core';
import type { QemuContext } from '../context.js';
import { scaledToBytes } from '../domain-util.js';
import { pciAddressString } from './device-address.js';
import type { PropObject, PropValue } from './props.js';

type Disk = NonNullable<NonNullable<DomainDef['devices']>['disk']>[number];
export type StorageSourceDef = NonNullable<Disk['source']>;

function unsupported(message: string): VirError {
  return virReportError('CONFIG_UNSUPPORTED', 'qemu', message);
}

function internal(message: string): VirError {
  return virReportError('INTERNAL_ERROR', 'qemu', message);
}

/** One image of a disk's chain with everything libvirt copies onto it from the disk. */
export interface ChainSource {
  /** `file`, `block`, `dir`, `network`, `nvme`, `vhostuser`, `volume`. */
  type: string;
  /** Image format (`raw`, `qcow2`, …); undefined when unknown. */
  format: string | undefined;
  source: StorageSourceDef;
  readonly: boolean;
  /** qcow2 metadata cache size in bytes, if set. */
  metadataCacheBytes?: bigint;
  /** Encryption, from the source or (legacy placement) the disk. */
  encryption?: StorageSourceDef['encryption'];
  /** Authentication, from the source or (legacy placement) the disk. */
  auth?: StorageSourceDef['auth'];
  /** Storage id (`libvirt-N-…`). */
  id: number;
  /** The next image down the chain, `null` for an explicitly terminated chain. */
  backing: ChainSource | null | undefined;
  // disk properties copied onto every image (qemuDomainPrepareDiskSourceData)
  cache?: string;
  io?: string;
  discard?: string;
  detectZeroes?: string;
  floppy: boolean;
}

export function nodeStorage(src: ChainSource): string {
  return `libvirt-${src.id}-storage`;
}

export function nodeFormat(src: ChainSource): string {
  return `libvirt-${src.id}-format`;
}

/** Whether an image needs a separate raw slice layer (qemuBlockStorageSourceNeedsStorageSliceLayer). */
export function needsSliceLayer(src: ChainSource): boolean {
  if (!src.source.slices?.slice) return false;
  return (src.format ?? 'raw') !== 'raw' || src.encryption !== undefined;
}

/** The raw slice `-blockdev` between an image's storage and format layers. */
export function sliceBlockdevProps(src: ChainSource): PropObject {
  const slice = src.source.slices?.slice ?? {};
  const props: PropObject = {
    driver: 'raw',
    'node-name': `libvirt-${src.id}-slice-sto`,
    offset: slice.offset === undefined ? undefined : Number(slice.offset),
    size: slice.size === undefined ? undefined : Number(slice.size),
    file: nodeStorage(src),
    'auto-read-only': true,
    discard: 'unmap',
  };
  const cache = cacheProps(src.cache);
  if (cache) props.cache = cache;
  return props;
}

/** The path-like name of a source (file, device, directory, or network image name). */
export function sourcePath(type: string, src: StorageSourceDef): string | undefined {
  switch (type) {
    case 'file':
      return src.file;
    case 'block':
      return src.dev;
    case 'dir':
      return src.dir;
    case 'network':
      return src.name;
    case 'vhostuser':
      return src.path;
    default:
      return undefined;
  }
}

/** Whether a disk has no medium (virStorageSourceIsEmpty). */
export function isEmptySource(type: string | undefined, src: StorageSourceDef | undefined): boolean {
  const t = type ?? 'file';
  if ((t === 'file' || t === 'block' || t === 'dir') && !sourcePath(t, src ?? {})) return true;
  if (t === 'network' && (!src?.protocol || src.protocol === 'none')) return true;
  return false;
}

function metadataCache(
  mc: { max_size?: { unit?: string; value?: number | string } } | undefined,
): bigint | undefined {
  const ms = mc?.max_size;
  if (ms?.value === undefined) return undefined;
  return scaledToBytes(ms.value, ms.unit, 'bytes');
}

/**
 * The chain of a disk with storage ids. `nextId` hands out ids (libvirt's
 * qemuDomainStorageIDNew), in chain order from the top image down.
 */
export function diskChain(disk: Disk, nextId: () => number): ChainSource {
  const drv = disk.driver ?? {};
  const cache =
    (drv.cache === undefined || drv.cache === 'default') && disk.shareable && !disk.readonly
      ? 'none'
      : drv.cache;
  const common = {
    cache: cache === 'default' ? undefined : cache,
    io: drv.io,
    discard: drv.discard,
    floppy: disk.device === 'floppy',
  };
  const top: ChainSource = {
    type: disk.type ?? 'file',
    format: drv.type === 'aio' ? 'raw' : drv.type,
    source: disk.source ?? {},
    readonly: disk.readonly === true,
    metadataCacheBytes: metadataCache(drv.metadata_cache),
    encryption: disk.source?.encryption ?? disk.encryption,
    auth: disk.source?.auth ?? disk.auth,
    id: nextId(),
    backing: undefined,
    detectZeroes: drv.detect_zeroes,
    ...common,
  };
  let cur = top;
  let bs = disk.backingStore;
  while (bs) {
    if (!bs.type) {
      cur.backing = null;
      break;
    }
    const next: ChainSource = {
      type: bs.type,
      format: bs.format?.type,
      source: bs.source ?? {},
      readonly: true,
      metadataCacheBytes: metadataCache(bs.format?.metadata_cache),
      encryption: bs.source?.encryption,
      auth: bs.source?.auth,
      id: nextId(),
      backing: undefined,
      ...common,
    };
    cur.backing = next;
    cur = next;
    bs = bs.backingStore;
  }
  return top;
}

/** Every image of a chain, top first. */
export function chainImages(top: ChainSource): ChainSource[] {
  const out: ChainSource[] = [];
  for (let n: ChainSource | null | undefined = top; n; n = n.backing) out.push(n);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Secrets

/**
 * A secret's lookup as libvirt reports its absence. The reference host has no secrets defined,
 * so every secret lookup fails the way virSecretLookupByUUID/ByUsage do.
 */
export function secretNotFound(secret: { uuid?: string; usage?: string } | undefined): VirError {
  const what = secret?.uuid ? `uuid '${secret.uuid}'` : `usage '${secret?.usage ?? ''}'`;
  return virReportError('NO_SECRET', 'qemu', `no secret with matching ${what}`);
}

const masterKeys = new WeakMap<object, Buffer>();

/**
 * What a start knows of secrets (QemuContext.secrets): the master key QEMU reads from
 * `master-key.aes`, and the values of the secrets the domain's disks name, fetched from the secret
 * driver before the (synchronous) build. `value` answers undefined for a secret it does not have.
 */
export interface StartSecrets {
  masterKey: Buffer;
  value(lookup: { uuid?: string; usage?: string } | undefined, usageType: number): Uint8Array | undefined;
}

/** virSecretUsageType of an auth secret: ceph for rbd, iSCSI otherwise (qemuDomainSecretStorageSourcePrepare). */
export const authUsageType = (protocol: string | undefined): number => (protocol === 'rbd' ? 2 : 3);
/** VIR_SECRET_USAGE_TYPE_VOLUME: what an encryption secret must be. */
export const ENCRYPTION_USAGE_TYPE = 1;

/**
 * `-object secret` carrying `plain` encrypted with the domain master key (qemuBuildSecretInfoProps).
 * Without a start's master key (`domxml-to-native`) one is generated per build, as libvirt
 * generates one per start.
 */
export function secretObjectProps(
  keyOwner: object,
  id: string,
  plain: string | Uint8Array,
  masterKey?: Buffer,
): PropObject {
  let key = masterKey ?? masterKeys.get(keyOwner);
  if (!key) {
    key = randomBytes(32);
    masterKeys.set(keyOwner, key);
  }
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const data = Buffer.concat([
    typeof plain === 'string' ? cipher.update(plain, 'utf8') : cipher.update(plain),
    cipher.final(),
  ]);
  return {
    'qom-type': 'secret',
    id,
    data: data.toString('base64'),
    keyid: 'masterKey0',
    iv: iv.toString('base64'),
    format: 'base64',
  };
}

/** The cookie string of an HTTP(S) source (qemuBlockStorageSourceGetCookieString). */
export function cookieString(src: StorageSourceDef): string | undefined {
  const cookies = src.cookies?.cookie ?? [];
  if (cookies.length === 0) return undefined;
  return cookies.map((c) => `${c.name ?? ''}=${c.value ?? ''}`).join('; ');
}

// ---------------------------------------------------------------------------------------------
// Validation done when preparing a source (qemuDomainValidateStorageSource)

export function validateChainSource(src: ChainSource): void {
  const f = src.format;
  const s = src.source;
  if (f === 'cow') throw unsupported("'cow' storage format is not supported");
  if (f === 'dir') {
    throw unsupported(
      "'directory' storage format is not directly supported by QEMU, use 'dir' disk type instead",
    );
  }
  if (f === 'iso')
    throw unsupported("storage format 'iso' is not directly supported by QEMU, use 'raw' instead");
  if (f === 'fat' && src.type !== 'volume' && src.type !== 'dir') {
    throw unsupported("storage format 'fat' is supported only with 'dir' storage type");
  }
  if (src.type === 'dir') {
    if (f && f !== 'fat' && f !== 'none')
      throw unsupported("storage type 'dir' requires use of storage format 'fat'");
    if (!src.readonly) throw unsupported("virtual FAT storage can't be accessed in read-write mode");
  }
  const proto = src.type === 'network' ? s.protocol : undefined;
  if (s.ssl?.verify !== undefined && proto !== 'https' && proto !== 'ftps') {
    throw unsupported('ssl verification is supported only with HTTPS/FTPS protocol');
  }
  if (cookieString(s) !== undefined && proto !== 'http' && proto !== 'https') {
    throw unsupported('http cookies are supported only with HTTP(S) protocol');
  }
  const curl = proto === 'http' || proto === 'https' || proto === 'ftp' || proto === 'ftps';
  if (s.readahead?.size && !curl)
    throw unsupported('readahead is supported only with HTTP(S)/FTP(s) protocols');
  if (s.timeout?.seconds && !curl)
    throw unsupported('timeout is supported only with HTTP(S)/FTP(s) protocols');
  if (s.query && proto !== 'http' && proto !== 'https')
    throw unsupported('query is supported only with HTTP(S) protocols');
  if (proto === 'tftp') throw unsupported("'tftp' protocol is not supported with this QEMU binary");
  if (proto === 'vxhs') throw unsupported('VxHS protocol is not supported with this QEMU binary');
  if (proto === 'nfs') {
    const hosts = s.host ?? [];
    if (hosts.length !== 1) throw unsupported("'nfs' protocol requires the usage of exactly one host");
    if (hosts[0]?.transport && hosts[0].transport !== 'tcp')
      throw unsupported("'nfs' host must use TCP protocol");
    if (hosts[0]?.port) throw unsupported("port cannot be specified in 'nfs' protocol host");
  }
  if (src.metadataCacheBytes && src.metadataCacheBytes > 0n && f !== 'qcow2') {
    throw unsupported('metadata cache max size control is supported only with qcow2 images');
  }
  if (src.encryption && src.encryption.format === 'qcow') {
    throw unsupported('use of the qcow encryption format is not supported');
  }
}

// ---------------------------------------------------------------------------------------------
// Storage layer

type Host = NonNullable<StorageSourceDef['host']>[number];

function socketAddress(h: Host): PropObject {
  const transport = h.transport ?? 'tcp';
  if (transport === 'tcp') return { type: 'inet', host: h.name, port: String(h.port ?? 0) };
  if (transport === 'unix') return { type: 'unix', path: h.socket };
  throw internal(`transport protocol '${transport}' is not yet supported`);
}

function inetSocketAddress(h: Host): PropObject {
  if ((h.transport ?? 'tcp') !== 'tcp')
    throw internal('only TCP protocol can be converted to InetSocketAddress');
  return { host: h.name, port: String(h.port ?? 0) };
}

function oneHost(s: StorageSourceDef, protocol: string): Host {
  const hosts = s.host ?? [];
  if (hosts.length !== 1) throw internal(`${protocol} protocol accepts only one host`);
  return hosts[0] as Host;
}

/** gluster and RBD keep `pool/image` in one name. */
function splitVolume(s: StorageSourceDef): { volume?: string; path?: string } {
  const name = s.name;
  if (!name) return {};
  const i = name.indexOf('/');
  if (i <= 0) return { path: name };
  return { volume: name.slice(0, i), path: name.slice(i + 1) };
}

/** The URI of a CURL source (qemuBlockStorageSourceGetURI, virURIFormat). */
function curlURI(s: StorageSourceDef): string {
  const hosts = s.host ?? [];
  if (hosts.length !== 1) throw internal(`protocol '${s.protocol}' accepts only one host`);
  const h = hosts[0] as Host;
  const transport = h.transport ?? 'tcp';
  const scheme = transport === 'tcp' ? s.protocol : `${s.protocol}+${transport}`;
  let server = h.name ?? '';
  if (server.includes(':')) server = `[${server}]`;
  const port = transport === 'tcp' && h.port ? `:${h.port}` : '';
  const path = s.name ? (s.name.startsWith('/') ? s.name : `/${s.name}`) : '';
  const query = s.query ? `?${s.query}` : '';
  return `${scheme}://${server}${port}${path}${query}`;
}

export interface SourceDeps {
  /** `-object` props needed before the storage layer, in libvirt's order. */
  objects: PropObject[];
  authSecretAlias?: string;
  encSecretAlias?: string;
  cookieSecretAlias?: string;
  tlsAlias?: string;
  prManagerAlias?: string;
}

/**
 * The objects a source depends on (qemuBuildStorageSourceAttachPrepareCommon) and their aliases;
 * throws when a secret is needed (the reference host defines none).
 */
export function sourceDeps(
  b: { def: DomainDef; ctx: QemuContext; libDir: string },
  src: ChainSource,
): SourceDeps {
  const deps: SourceDeps = { objects: [] };
  const s = src.source;
  const storage = nodeStorage(src);
  if (isEmptySource(src.type, s)) return deps;
  if ((src.type === 'file' || src.type === 'block') && s.fdgroup) {
    throw virReportError(
      'INVALID_ARG',
      'qemu',
      `file descriptor group '${s.fdgroup}' was not associated with the domain`,
    );
  }
  // secrets (qemuDomainSecretStorageSourcePrepare): found only at a start that fetched them
  const secrets = b.ctx.secrets;
  let authValue: Uint8Array | undefined;
  if (src.auth) {
    authValue = secrets?.value(src.auth.secret, authUsageType(s.protocol));
    if (!authValue) throw secretNotFound(src.auth.secret);
  }
  const encSecrets = src.encryption?.secret ?? [];
  let encValue: Uint8Array | undefined;
  if (encSecrets.length > 0) {
    encValue = secrets?.value(encSecrets[0], ENCRYPTION_USAGE_TYPE);
    if (!encValue) throw secretNotFound(encSecrets[0]);
  }
  const cookies = src.type === 'network' ? cookieString(s) : undefined;
  // persistent reservations
  const pr = s.reservations;
  if (pr) {
    if (pr.managed === 'no') {
      deps.prManagerAlias = `pr-helper-${storage}`;
      deps.objects.push({ 'qom-type': 'pr-manager-helper', id: deps.prManagerAlias, path: pr.source?.path });
    } else {
      deps.prManagerAlias = 'pr-helper0';
    }
  }
  // qemuAliasForSecret(nodestorage, "auth") and (nodeformat, "encryption"), in libvirt's order
  if (authValue) {
    deps.authSecretAlias = `${storage}-auth-secret0`;
    deps.objects.push(secretObjectProps(b.def, deps.authSecretAlias, authValue, secrets?.masterKey));
  }
  if (encValue) {
    deps.encSecretAlias = `${nodeFormat(src)}-encryption-secret0`;
    deps.objects.push(secretObjectProps(b.def, deps.encSecretAlias, encValue, secrets?.masterKey));
  }
  if (cookies !== undefined) {
    deps.cookieSecretAlias = `${storage}-httpcookie-secret0`;
    deps.objects.push(secretObjectProps(b.def, deps.cookieSecretAlias, cookies, secrets?.masterKey));
  }
  // TLS (qemuDomainPrepareStorageSourceTLS)
  if (src.type === 'network') {
    const proto = s.protocol;
    const conf = b.ctx.conf as unknown as Record<string, unknown>;
    const tls = s.tls === undefined ? (proto === 'nbd' ? conf.nbdTls === true : undefined) : s.tls === 'yes';
    if (proto === 'nbd') {
      if (tls) {
        const dir =
          (conf.nbdTlsX509CertDir as string | undefined) ??
          (conf.defaultTlsX509CertDir as string | undefined) ??
          '/etc/pki/qemu';
        const secretUuid =
          (conf.nbdTlsX509SecretUuid as string | undefined) ??
          (conf.defaultTlsX509SecretUuid as string | undefined);
        if (secretUuid) throw secretNotFound({ uuid: secretUuid });
        deps.tlsAlias = `obj${storage}_tls0`;
        deps.objects.push({
          'qom-type': 'tls-creds-x509',
          id: deps.tlsAlias,
          dir,
          endpoint: 'client',
          'verify-peer': true,
        });
      }
    } else if (tls) {
      throw unsupported(`TLS transport is not supported for disk protocol '${proto}'`);
    }
  }
  return deps;
}

/** The storage layer's protocol-specific props, driver first (qemuBlockStorageSourceGetBackendProps). */
function backendProps(ctx: QemuContext, src: ChainSource, deps: SourceDeps): PropObject {
  const s = src.source;
  switch (src.type) {
    case 'file':
    case 'block':
      return {
        driver: src.type === 'block' ? 'host_device' : 'file',
        filename: sourcePath(src.type, s),
        aio: src.io && src.io !== 'default' ? src.io : undefined,
        'pr-manager': deps.prManagerAlias,
      };
    case 'dir':
      return { driver: 'vvfat', dir: s.dir, floppy: src.floppy, rw: !src.readonly };
    case 'nvme': {
      const a = s.address ?? {};
      return {
        driver: 'nvme',
        device: pciAddressString(a),
        namespace: s.namespace === undefined ? undefined : Number(s.namespace),
      };
    }
    case 'vhostuser':
      throw internal('unable to create blockdev props for vhostuser disk type');
    case 'volume':
      throw internal(`storage source pool '${s.pool}' volume '${s.volume}' is not translated`);
    case 'network':
      break;
    default:
      throw internal(`Unexpected value for enum virStorageType: ${src.type}`);
  }
  const proto = s.protocol ?? 'none';
  switch (proto) {
    case 'gluster': {
      const { volume, path } = splitVolume(s);
      return {
        driver: 'gluster',
        volume,
        path,
        server: (s.host ?? []).map(socketAddress),
        debug: ctx.conf.glusterDebugLevel,
      };
    }
    case 'http':
    case 'https':
    case 'ftp':
    case 'ftps':
    case 'tftp':
      return {
        driver: proto,
        url: curlURI(s),
        username: src.auth ? src.auth.username : undefined,
        'password-secret': deps.authSecretAlias,
        sslverify: s.ssl?.verify === undefined ? undefined : s.ssl.verify === 'yes',
        'cookie-secret': deps.cookieSecretAlias,
        timeout: s.timeout?.seconds ? Number(s.timeout.seconds) : undefined,
        readahead: s.readahead?.size ? Number(s.readahead.size) : undefined,
      };
    case 'iscsi': {
      const h = (s.host ?? [])[0] ?? {};
      let target = s.name ?? '';
      let lun = 0;
      const slash = target.indexOf('/');
      if (slash >= 0) {
        const lunStr = target.slice(slash + 1);
        target = target.slice(0, slash);
        if (!/^\d+$/.test(lunStr)) throw internal(`cannot parse target for lunStr '${target}'`);
        lun = Number(lunStr);
      }
      const host = h.name ?? '';
      const portal = host.includes(':') ? `[${host}]:${h.port ?? 0}` : `${host}:${h.port ?? 0}`;
      return {
        driver: 'iscsi',
        portal,
        target,
        lun,
        transport: 'tcp',
        user: src.auth?.username,
        'password-secret': src.auth ? deps.authSecretAlias : undefined,
        'initiator-name': s.initiator?.iqn?.name,
      };
    }
    case 'nbd': {
      const h = oneHost(s, 'nbd');
      return {
        driver: 'nbd',
        server: socketAddress(h),
        export: s.name,
        'tls-creds': deps.tlsAlias,
        'tls-hostname': deps.tlsAlias ? s.tlsHostname : undefined,
      };
    }
    case 'rbd': {
      const { volume, path } = splitVolume(s);
      const hosts = s.host ?? [];
      return {
        driver: 'rbd',
        pool: volume,
        image: path,
        snapshot: s.snapshot?.name,
        conf: s.config?.file,
        server: hosts.length > 0 ? hosts.map(inetSocketAddress) : undefined,
        // librbd decrypts the image itself (engine='librbd'): luks or luks2, keyed in the storage layer
        encrypt:
          src.encryption?.engine === 'librbd' && deps.encSecretAlias
            ? {
                format: src.encryption.format === 'luks2' ? 'luks2' : 'luks',
                'key-secret': deps.encSecretAlias,
              }
            : undefined,
        user: src.auth ? src.auth.username : undefined,
        'auth-client-required': src.auth ? ['cephx', 'none'] : undefined,
        'key-secret': src.auth ? deps.authSecretAlias : undefined,
      };
    }
    case 'sheepdog': {
      const h = oneHost(s, 'sheepdog');
      return { driver: 'sheepdog', server: socketAddress(h), vdi: s.name };
    }
    case 'ssh': {
      const h = oneHost(s, 'ssh');
      return { driver: 'ssh', path: s.name, server: inetSocketAddress(h), user: src.auth?.username };
    }
    case 'nfs': {
      const h = (s.host ?? [])[0] ?? {};
      const props: PropObject = { driver: 'nfs', server: { host: h.name, type: 'inet' }, path: s.name };
      const id = s.identity;
      if (id?.user !== undefined) props.user = numericId(id.user, 'user');
      if (id?.group !== undefined) props.group = numericId(id.group, 'group');
      return props;
    }
    case 'vxhs':
      throw unsupported('VxHS protocol is not supported with this QEMU binary');
    default:
      throw internal(`Unexpected value for enum virStorageNetProtocol: ${proto}`);
  }
}

function numericId(name: string, kind: 'user' | 'group'): number {
  const m = /^\+?(\d+)$/.exec(name);
  if (m) return Number(m[1]);
  if (name === 'root') return 0;
  throw new VirError('SYSTEM_ERROR', 'qemu', `Failed to parse ${kind} '${name}'`);
}

/** `cache` object of a layer when the disk has a cache mode. */
export function cacheProps(cache: string | undefined): PropObject | undefined {
  switch (cache) {
    case 'none':
      return { direct: true, 'no-flush': false };
    case 'writethrough':
    case 'writeback':
      return { direct: false, 'no-flush': false };
    case 'directsync':
      return { direct: true, 'no-flush': false };
    case 'unsafe':
      return { direct: false, 'no-flush': true };
    default:
      return undefined;
  }
}

/** Whether writeback caching is on for a cache mode (qemuDomainDiskCachemodeFlags). */
export function cacheWriteback(cache: string): boolean {
  return cache === 'none' || cache === 'writeback' || cache === 'unsafe';
}

/** The storage `-blockdev` of an image. */
export function storageBlockdevProps(ctx: QemuContext, src: ChainSource, deps: SourceDeps): PropObject {
  const props = backendProps(ctx, src, deps);
  props['node-name'] = nodeStorage(src);
  const cache = cacheProps(src.cache);
  if (cache) props.cache = cache;
  props['auto-read-only'] = true;
  props.discard = 'unmap';
  return props;
}

/** QEMU's driver for a format with no special props. */
const PLAIN_FORMATS: Record<string, string> = {
  ploop: 'parallels',
  vhd: 'vhdx',
  bochs: 'bochs',
  cloop: 'cloop',
  dmg: 'dmg',
  vdi: 'vdi',
  vpc: 'vpc',
  qed: 'qed',
  vmdk: 'vmdk',
};

/** Formats that can have a backing image (>= VIR_STORAGE_FILE_BACKING). */
const BACKING_FORMATS = new Set(['cow', 'qcow', 'qcow2', 'qed', 'vmdk']);

/** The format `-blockdev` of an image, linked to its storage layer and backing image. */
export function formatBlockdevProps(src: ChainSource, deps: SourceDeps): PropObject {
  const format = src.format ?? 'raw';
  const discard = src.discard && src.discard !== 'default' ? src.discard : undefined;
  let detect = src.detectZeroes && src.detectZeroes !== 'default' ? src.detectZeroes : undefined;
  // virDomainDiskGetDetectZeroesMode: only the default is left out, an explicit 'off' is passed on
  if (detect === 'unmap' && discard !== 'unmap') detect = 'on';
  const props: PropObject = {
    'node-name': nodeFormat(src),
    'read-only': src.readonly,
    discard,
    'detect-zeroes': detect,
  };
  const cache = cacheProps(src.cache);
  if (cache) props.cache = cache;
  const enc = src.encryption && src.encryption.engine !== 'librbd' ? src.encryption : undefined;
  switch (format) {
    case 'fat':
    case 'raw':
      if (enc && enc.format === 'luks') {
        if (!deps.encSecretAlias) throw internal("missing secret info for 'luks' driver");
        props.driver = 'luks';
        props['key-secret'] = deps.encSecretAlias;
      } else {
        props.driver = 'raw';
        const slice = src.source.slices?.slice;
        if (slice && !needsSliceLayer(src)) {
          props.offset = slice.offset === undefined ? undefined : Number(slice.offset);
          props.size = slice.size === undefined ? undefined : Number(slice.size);
        }
      }
      break;
    case 'qcow2':
    case 'qcow':
      props.driver = format;
      if (enc && deps.encSecretAlias) {
        if (enc.format === 'luks2') {
          throw unsupported('luks2 is currently not supported by the qemu encryption engine');
        }
        props.encrypt = { format: enc.format === 'qcow' ? 'aes' : 'luks', 'key-secret': deps.encSecretAlias };
      }
      if (format === 'qcow2' && src.metadataCacheBytes && src.metadataCacheBytes > 0n) {
        props['cache-size'] = Number(src.metadataCacheBytes);
      }
      break;
    default: {
      const driver = PLAIN_FORMATS[format];
      if (!driver) throw internal(`mishandled storage format '${format}'`);
      props.driver = driver;
    }
  }
  props.file = needsSliceLayer(src) ? `libvirt-${src.id}-slice-sto` : nodeStorage(src);
  if (src.backing !== undefined) {
    if (BACKING_FORMATS.has(format)) {
      props.backing = src.backing ? nodeFormat(src.backing) : (null as unknown as PropValue);
    } else if (src.backing) {
      throw unsupported(`storage format '${format}' does not support backing store`);
    }
  }
  return props;
}
