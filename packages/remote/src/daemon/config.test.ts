import { VirConf } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { daemonConfigFromVirConf, defaultDaemonConfig, parsePerms } from './config.js';

describe('qvirtd.conf', () => {
  it("has libvirtd's defaults", () => {
    expect(defaultDaemonConfig()).toMatchObject({
      max_clients: 5000,
      max_client_requests: 5,
      keepalive_interval: 5,
      keepalive_count: 5,
      tcp_port: '16509',
      tls_port: '16514',
      auth_tcp: 'sasl',
      auth_tls: 'none',
      unix_sock_rw_perms: '0700',
      unix_sock_ro_perms: '0777',
      listen_tcp: false,
    });
  });

  it('reads libvirtd.conf keys and rejects an unknown auth', () => {
    const c = daemonConfigFromVirConf(
      VirConf.parse(
        'listen_tcp = 1\nmax_clients = 7\nkeepalive_interval = -1\nunix_sock_dir = "/x"\nauth_tcp = "none"\ntls_allowed_dn_list = ["C=GB,CN=a"]\n',
      ),
    );
    expect(c).toMatchObject({
      listen_tcp: true,
      max_clients: 7,
      keepalive_interval: -1,
      unix_sock_dir: '/x',
      auth_tcp: 'none',
      tls_allowed_dn_list: ['C=GB,CN=a'],
    });
    expect(() => daemonConfigFromVirConf(VirConf.parse('auth_tls = "kerberos"\n'), 'q.conf')).toThrow(
      'q.conf: auth_tls: unsupported auth kerberos',
    );
    expect(() => daemonConfigFromVirConf(VirConf.parse('max_clients = "many"\n'))).toThrow();
    expect(parsePerms('0770', 'unix_sock_rw_perms')).toBe(0o770);
    expect(() => parsePerms('rw', 'unix_sock_rw_perms')).toThrow("Failed to parse mode 'rw'");
  });
});
