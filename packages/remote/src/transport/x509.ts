/**
 * libvirt's x509 file locations and peer checks (src/rpc/virnettlscontext.c), for the TLS
 * transport on both ends.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { systemErrorText } from '@qvirt/core/errors';
import { globMatch } from '../auth/sasl-auth.js';

/** LIBVIRT_PKI_DIR and friends (SYSCONFDIR = /etc). */
export const LIBVIRT_PKI = {
  caCert: '/etc/pki/CA/cacert.pem',
  caCrl: '/etc/pki/CA/cacrl.pem',
  serverKey: '/etc/pki/libvirt/private/serverkey.pem',
  serverCert: '/etc/pki/libvirt/servercert.pem',
  clientKey: '/etc/pki/libvirt/private/clientkey.pem',
  clientCert: '/etc/pki/libvirt/clientcert.pem',
} as const;

export interface X509Files {
  caFile: string;
  /** Only when the file exists (libvirt skips a missing default CRL). */
  crlFile?: string;
  certFile: string;
  keyFile: string;
}

/**
 * virNetTLSContextLocateCredentials: with `pkipath`, every file from that directory; otherwise,
 * for a non-root user, ~/.pki/libvirt/ where the file exists, then the system paths.
 */
export function locateX509Files(
  isServer: boolean,
  pkipath?: string,
  user = process.getuid?.() !== 0,
): X509Files {
  const certName = isServer ? 'servercert.pem' : 'clientcert.pem';
  const keyName = isServer ? 'serverkey.pem' : 'clientkey.pem';
  let caFile: string | undefined;
  let crlFile: string | undefined;
  let certFile: string | undefined;
  let keyFile: string | undefined;
  if (pkipath) {
    caFile = join(pkipath, 'cacert.pem');
    crlFile = join(pkipath, 'cacrl.pem');
    keyFile = join(pkipath, keyName);
    certFile = join(pkipath, certName);
  } else if (user) {
    const dir = join(homedir(), '.pki', 'libvirt');
    const pick = (name: string) => (existsSync(join(dir, name)) ? join(dir, name) : undefined);
    caFile = pick('cacert.pem');
    crlFile = pick('cacrl.pem');
    keyFile = pick(keyName);
    certFile = pick(certName);
  }
  caFile ??= LIBVIRT_PKI.caCert;
  crlFile ??= LIBVIRT_PKI.caCrl;
  keyFile ??= isServer ? LIBVIRT_PKI.serverKey : LIBVIRT_PKI.clientKey;
  certFile ??= isServer ? LIBVIRT_PKI.serverCert : LIBVIRT_PKI.clientCert;
  return { caFile, certFile, keyFile, ...(existsSync(crlFile) ? { crlFile } : {}) };
}

/** Reads one credential file with libvirt's wording when it is missing. */
export function readCredentialFile(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`Cannot read ${what} '${path}': ${systemErrorText(err)}`);
  }
}

/**
 * The subject as gnutls_x509_crt_get_dn gives it (RFC 4514: most specific RDN first,
 * "CN=client,O=Acme\, Inc,C=GB"), which is what tls_allowed_dn_list patterns are written against.
 */
export function distinguishedName(cert: X509Certificate): string {
  return cert.subject.split('\n').reverse().join(',');
}

const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

/**
 * The checks virNetTLSContextValidCertificate makes on the peer's leaf certificate after the
 * chain verified: DN on the allow list, not a CA, the key purpose (TLS client or server) when the
 * certificate names purposes. Returns the DN, throws with libvirt's wording.
 */
export function checkPeerCertificate(
  der: Buffer | X509Certificate,
  opts: { peerIsClient: boolean; allowedDnList?: readonly string[] },
): string {
  const cert = der instanceof X509Certificate ? der : new X509Certificate(der);
  const dn = distinguishedName(cert);
  if (opts.allowedDnList && !opts.allowedDnList.some((p) => globMatch(p, dn))) {
    throw new Error(
      `Client's Distinguished Name is not on the list of allowed clients (tls_allowed_dn_list): '${dn}'`,
    );
  }
  if (cert.ca) {
    throw new Error(
      `The certificate [session] basic constraints show a CA, not a ${opts.peerIsClient ? 'client' : 'server'}`,
    );
  }
  const purposes = cert.keyUsage;
  const want = opts.peerIsClient ? EKU_CLIENT_AUTH : EKU_SERVER_AUTH;
  if (purposes && purposes.length > 0 && !purposes.includes(want)) {
    throw new Error(
      `Certificate [session] purpose does not allow use with a TLS ${opts.peerIsClient ? 'client' : 'server'}`,
    );
  }
  return dn;
}

/**
 * A gnutls priority string (tls_priority) mapped onto what Node's TLS can set: the protocol
 * versions ("-VERS-TLS1.2", "-VERS-TLS1.3", "-VERS-ALL:+VERS-TLS1.3"). Cipher keywords are left to
 * OpenSSL's defaults, which are at least as strict as gnutls's NORMAL.
 */
export function tlsVersionsFromPriority(priority: string | undefined): {
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
} {
  if (!priority) return {};
  const tokens = priority.split(':').map((t) => t.trim().toUpperCase());
  let v12 = true;
  let v13 = true;
  for (const t of tokens) {
    if (t === '-VERS-ALL' || t === '-VERS-TLS-ALL') v12 = v13 = false;
    else if (t === '+VERS-ALL' || t === '+VERS-TLS-ALL') v12 = v13 = true;
    else if (t === '-VERS-TLS1.2') v12 = false;
    else if (t === '+VERS-TLS1.2') v12 = true;
    else if (t === '-VERS-TLS1.3') v13 = false;
    else if (t === '+VERS-TLS1.3') v13 = true;
  }
  if (!v12 && !v13) throw new Error(`tls_priority '${priority}' leaves no TLS version`);
  if (!v12) return { minVersion: 'TLSv1.3' };
  if (!v13) return { maxVersion: 'TLSv1.2' };
  return {};
}
