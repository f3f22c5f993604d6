/**
 * The TLS transport (`qemu://host/system`, `qemu+tls://`, port 16514), on Node's `tls` module
 * (OpenSSL) where libvirt uses gnutls; both ends speak the same TLS and x509.
 *
 * Server: the daemon's certificate and key, the CA that signs client certificates (and a CRL when
 * one is there), client certificates required and verified (unless tls_no_verify_certificate),
 * then libvirt's own checks (virNetServerClientCheckAccess): the client's DN against
 * tls_allowed_dn_list, not a CA, a TLS-client purpose. A client that passes gets libvirt's
 * confirmation byte '\1' and then the RPC protocol (with auth_tls = "none" by default, or SASL
 * SCRAM-SHA-256 on top); one that fails is disconnected, as libvirtd does.
 *
 * Client: certificates from `?pkipath=DIR` or libvirt's locations, the server's certificate and
 * host name verified (unless `?no_verify=1`), then the confirmation byte is awaited.
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { Server } from '../server/server.js';
import {
  closeNet,
  DEFAULT_TLS_PORT,
  listenNet,
  type NetworkAuth,
  type NetworkListener,
  peerAddress,
  type SaslListenerOptions,
  serveConnection,
} from './tcp.js';
import {
  checkPeerCertificate,
  locateX509Files,
  readCredentialFile,
  tlsVersionsFromPriority,
  type X509Files,
} from './x509.js';

export interface TlsServerConfig {
  /** key_file, cert_file, ca_file, crl_file: default libvirt's /etc/pki paths. */
  keyFile?: string;
  certFile?: string;
  caFile?: string;
  crlFile?: string;
  /** tls_no_verify_certificate: accept clients without checking their certificate. */
  noVerifyCertificate?: boolean;
  /** tls_no_sanity_certificate: skip the start-up check that the CA signed our certificate. */
  noSanityCertificate?: boolean;
  /** tls_allowed_dn_list: glob patterns against the client DN ("CN=client,O=Acme,C=GB"). */
  allowedDnList?: string[];
  /** tls_priority (gnutls syntax; the protocol-version parts are honoured). */
  priority?: string;
}

export interface TlsListenOptions {
  host?: string;
  port?: number;
  /** auth_tls: "none" (default) or "sasl" (SCRAM-SHA-256 on top of TLS). */
  auth: NetworkAuth;
  sasl?: SaslListenerOptions;
  tls: TlsServerConfig;
  onConnection?: (peer: string, dn: string | undefined) => void;
  /** A client refused: handshake failure or a failed check. */
  onRefused?: (peer: string, reason: string) => void;
}

function serverFiles(cfg: TlsServerConfig): X509Files {
  const defaults = locateX509Files(true, undefined, false);
  return {
    caFile: cfg.caFile ?? defaults.caFile,
    certFile: cfg.certFile ?? defaults.certFile,
    keyFile: cfg.keyFile ?? defaults.keyFile,
    ...((cfg.crlFile ?? defaults.crlFile) ? { crlFile: cfg.crlFile ?? defaults.crlFile } : {}),
  };
}

/** Loads and checks the daemon's credentials (the errors libvirtd gives at start-up). */
export function loadServerCredentials(cfg: TlsServerConfig): {
  key: Buffer;
  cert: Buffer;
  ca: Buffer;
  crl?: Buffer;
} {
  const files = serverFiles(cfg);
  const ca = readCredentialFile('CA certificate', files.caFile);
  const cert = readCredentialFile('server certificate', files.certFile);
  const key = readCredentialFile('server key', files.keyFile);
  const crl = files.crlFile ? readCredentialFile('CA revocation list', files.crlFile) : undefined;
  if (!cfg.noSanityCertificate) {
    const leaf = new X509Certificate(cert);
    const cas = ca
      .toString('latin1')
      .split(/(?=-----BEGIN CERTIFICATE-----)/)
      .filter((p) => p.includes('BEGIN CERTIFICATE'))
      .map((p) => new X509Certificate(p));
    if (!cas.some((c) => leaf.checkIssued(c) && leaf.verify(c.publicKey))) {
      throw new Error(
        `Unable to verify server certificate ${files.certFile} against CA certificate ${files.caFile}`,
      );
    }
    if (new Date(leaf.validTo).getTime() < Date.now()) {
      throw new Error(`The server certificate ${files.certFile} has expired`);
    }
  }
  return { key, cert, ca, ...(crl ? { crl } : {}) };
}

export async function listenTls(server: Server, opts: TlsListenOptions): Promise<NetworkListener> {
  if (opts.auth === 'sasl' && !opts.sasl) throw new Error('auth_tls = "sasl" needs a SASL user database');
  const creds = loadServerCredentials(opts.tls);
  const verify = !opts.tls.noVerifyCertificate;
  const tls = createTlsServer(
    {
      ...creds,
      requestCert: true,
      rejectUnauthorized: verify,
      ...tlsVersionsFromPriority(opts.tls.priority),
    },
    (socket: TLSSocket) => {
      const peer = peerAddress(socket);
      let dn: string | undefined;
      if (verify) {
        try {
          const cert = socket.getPeerX509Certificate();
          if (!cert) throw new Error('The client did not present a certificate');
          dn = checkPeerCertificate(cert, {
            peerIsClient: true,
            ...(opts.tls.allowedDnList ? { allowedDnList: opts.tls.allowedDnList } : {}),
          });
        } catch (err) {
          opts.onRefused?.(peer, (err as Error).message);
          socket.destroy();
          return;
        }
      }
      opts.onConnection?.(peer, dn);
      socket.setNoDelay(true);
      // virNetServerClientCheckAccess: '\1' tells the client its certificate was accepted.
      socket.write(Buffer.from([1]));
      serveConnection(server, socket, {
        auth: opts.auth,
        secure: true,
        ...(opts.sasl ? { sasl: opts.sasl } : {}),
        identity: { transport: 'tls', peer, ...(dn ? { x509dname: dn } : {}) },
      });
    },
  );
  tls.on('tlsClientError', (err, socket) => {
    opts.onRefused?.(`${socket.remoteAddress ?? '?'};${socket.remotePort ?? '?'}`, err.message);
  });
  await listenNet(tls, opts.host, opts.port ?? DEFAULT_TLS_PORT);
  return {
    kind: 'tls',
    address: () => tls.address() as import('node:net').AddressInfo,
    close: () => closeNet(tls),
  };
}

export interface TlsConnectOptions {
  host: string;
  port?: number;
  /** ?pkipath=DIR: cacert.pem, clientcert.pem, clientkey.pem (and cacrl.pem) from there. */
  pkipath?: string;
  /** ?no_verify=1: do not check the server's certificate or name. */
  noVerify?: boolean;
  priority?: string;
}

/** Connects, verifies, and waits for the daemon's confirmation byte; resolves the open stream. */
export function connectTls(opts: TlsConnectOptions): Promise<TLSSocket> {
  const files = locateX509Files(false, opts.pkipath);
  const ca = readCredentialFile('CA certificate', files.caFile);
  const cert = readCredentialFile('client certificate', files.certFile);
  const key = readCredentialFile('client key', files.keyFile);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: opts.host,
      port: opts.port ?? DEFAULT_TLS_PORT,
      ca,
      cert,
      key,
      ...(files.crlFile ? { crl: readCredentialFile('CA revocation list', files.crlFile) } : {}),
      ...(isIP(opts.host) ? {} : { servername: opts.host }),
      rejectUnauthorized: !opts.noVerify,
      ...(opts.noVerify ? { checkServerIdentity: () => undefined } : {}),
      ...tlsVersionsFromPriority(opts.priority),
    });
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    const refused = () => fail(new Error('server verification (of our certificate or IP address) failed'));
    socket.once('error', fail);
    socket.once('close', refused);
    socket.once('secureConnect', () => {
      if (!opts.noVerify) {
        try {
          const peer = socket.getPeerX509Certificate();
          if (peer) checkPeerCertificate(peer, { peerIsClient: false });
        } catch (err) {
          fail(err as Error);
          return;
        }
      }
      socket.once('data', (chunk: Buffer) => {
        socket.pause();
        socket.off('error', fail);
        socket.off('close', refused);
        if (chunk[0] !== 1) {
          refused();
          return;
        }
        if (chunk.length > 1) socket.unshift(chunk.subarray(1));
        socket.setNoDelay(true);
        resolve(socket);
        // pause() above stops 'data' listeners added later from starting the flow: restart it
        // once the caller (which attaches its listener as soon as this resolves) has one.
        setImmediate(() => {
          if (socket.listenerCount('data') > 0) socket.resume();
        });
      });
    });
  });
}
