/** SASL mechanisms and the user database, without a network (the real virsh is in transport/). */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { XdrReader, XdrWriter } from '../xdr/xdr.js';
import {
  DigestMd5Client,
  DigestMd5SecurityLayer,
  DigestMd5Server,
  deriveDigestMd5Credential,
  digestMd5ResponseValue,
  parseDirectives,
} from './digest-md5.js';
import { globMatch, readSaslData, writeSaslData } from './sasl-auth.js';
import { SaslAuthError } from './sasl-mechanism.js';
import { deriveScramCredential, ScramSha256Client, ScramSha256Server } from './scram.js';
import { SaslUserDb } from './user-db.js';

const dir = mkdtempSync(path.join(tmpdir(), 'qvirt-sasl-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SCRAM-SHA-256', () => {
  const cred = deriveScramCredential('pencil', 4096);
  const run = (password: string) => {
    const server = new ScramSha256Server((u) => (u === 'user' ? cred : undefined));
    const client = new ScramSha256Client('user', password);
    const first = server.start(client.start());
    expect(first.complete).toBe(false);
    const final = server.step(client.step(first.data).data);
    expect(final.complete).toBe(true);
    expect(client.step(final.data).complete).toBe(true);
    return server.identity();
  };

  it('authenticates with the right password and verifies the server', () => {
    expect(run('pencil')).toBe('user');
  });

  it('refuses a wrong password and an unknown user alike', () => {
    expect(() => run('pen')).toThrow(SaslAuthError);
    const server = new ScramSha256Server(() => undefined);
    const client = new ScramSha256Client('nobody', 'x');
    const first = server.start(client.start());
    expect(() => server.step(client.step(first.data).data)).toThrow('SCRAM authentication failed');
  });

  it('rejects channel binding it cannot do and malformed messages', () => {
    const server = new ScramSha256Server(() => cred);
    expect(() => server.start(Buffer.from('p=tls-unique,,n=user,r=abc'))).toThrow(/channel binding/);
    expect(() => new ScramSha256Server(() => cred).start(Buffer.from('garbage'))).toThrow(SaslAuthError);
  });
});

describe('DIGEST-MD5', () => {
  it('computes RFC 2831 §4 example values', () => {
    const p = {
      secret: deriveDigestMd5Credential('chris', 'elwood.innosoft.com', 'secret').secret,
      nonce: 'OA6MG9tEQGm2hh',
      cnonce: 'OA6MHXh6VqTrRk',
      nc: '00000001',
      qop: 'auth',
      digestUri: 'imap/elwood.innosoft.com',
    };
    expect(digestMd5ResponseValue(p, 'AUTHENTICATE')).toBe('d388dad90d4bbd760a152321f2143af7');
    expect(digestMd5ResponseValue(p, '')).toBe('ea40f60335c427b5527b84dbabcdfffd');
  });

  it('parses quoted, escaped and bare directives', () => {
    const d = parseDirectives('realm="a\\"b",nonce="x,y" , qop="auth,auth-conf",maxbuf=4096');
    expect(d.get('realm')).toBe('a"b');
    expect(d.get('nonce')).toBe('x,y');
    expect(d.get('maxbuf')).toBe('4096');
  });

  for (const confidentiality of [true, false]) {
    it(`logs in with qop=${confidentiality ? 'auth-conf' : 'auth'} and refuses a wrong password`, () => {
      const cred = deriveDigestMd5Credential('alice', 'qvirt', 'secret');
      const login = (password: string) => {
        const server = new DigestMd5Server((u) => (u === 'alice' ? cred : undefined), {
          realm: 'qvirt',
          requireConfidentiality: confidentiality,
        });
        const client = new DigestMd5Client({
          user: 'alice',
          password,
          digestUri: 'libvirt/host',
          confidentiality,
        });
        const challenge = server.start(client.start());
        const done = server.step(client.step(challenge.data).data);
        expect(done.complete).toBe(true);
        expect(client.step(done.data).complete).toBe(true);
        return { server, client };
      };
      const { server, client } = login('secret');
      expect(server.identity()).toBe('alice');
      expect(!!server.securityLayer()).toBe(confidentiality);
      expect(!!client.securityLayer()).toBe(confidentiality);
      expect(() => login('wrong')).toThrow('DIGEST-MD5 authentication failed');
    });
  }

  for (const cipher of ['rc4', '3des'] as const) {
    it(`seals and opens frames with ${cipher}, in any chunking, and detects tampering`, () => {
      const ha1 = Buffer.alloc(16, 7);
      const server = new DigestMd5SecurityLayer(cipher, ha1, true, 1000);
      const client = new DigestMd5SecurityLayer(cipher, ha1, false, 1000);
      const messages = [Buffer.from('hello'), Buffer.alloc(5000, 0x41), Buffer.alloc(0), Buffer.from('bye')];
      const wire = Buffer.concat(messages.map((m) => server.encode(m)));
      let got = Buffer.alloc(0);
      for (let i = 0; i < wire.length; i += 7)
        got = Buffer.concat([got, client.decode(wire.subarray(i, i + 7))]);
      expect(got.equals(Buffer.concat(messages))).toBe(true);
      const back = server.decode(client.encode(Buffer.from('reply')));
      expect(back.toString()).toBe('reply');
      const bad = client.encode(Buffer.from('x'.repeat(40)));
      bad[10]! ^= 1;
      expect(() => server.decode(bad)).toThrow(SaslAuthError);
    });
  }
});

describe('SASL helpers', () => {
  it('encodes char arrays as rpcgen does (one XDR int per byte)', () => {
    const w = new XdrWriter();
    writeSaslData(w, Buffer.from([0x41, 0xff]));
    const buf = w.finish();
    expect(buf.toString('hex')).toBe('00000002' + '00000041' + 'ffffffff');
    expect(readSaslData(new XdrReader(buf))).toEqual(Buffer.from([0x41, 0xff]));
  });

  it('matches sasl_allowed_username_list / tls_allowed_dn_list globs like GLib', () => {
    expect(globMatch('CN=client*,O=qvirt,C=GB', 'CN=client1,O=qvirt,C=GB')).toBe(true);
    expect(globMatch('a?c', 'abc')).toBe(true);
    expect(globMatch('a.c', 'abc')).toBe(false);
    expect(globMatch('joe@*', 'fred@X')).toBe(false);
  });
});

describe('SaslUserDb', () => {
  it('stores salted credentials only, in a 0600 file, and reloads them', () => {
    const file = path.join(dir, 'users.json');
    const db = SaslUserDb.load(file);
    expect(db.users()).toEqual([]);
    db.setPassword('alice', 'secret');
    db.save(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = SaslUserDb.load(file);
    expect(again.users()).toEqual(['alice']);
    expect(again.scram('alice')?.iterations).toBe(4096);
    expect(again.digestMd5('alice')?.realm).toBe('qvirt');
    expect(JSON.stringify(again)).not.toContain('secret');
    expect(() => again.setPassword('bad name', 'x')).toThrow(/invalid SASL user name/);
    expect(again.remove('alice')).toBe(true);
  });
});
