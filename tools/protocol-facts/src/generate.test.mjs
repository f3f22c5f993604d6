// Tests of the generator on small inputs written here, and (when LIBVIRT_SRC points at a libvirt
// source tree) a byte-for-byte comparison of a fresh run with the checked-in file.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { candidateApiName, procName, readonlyFacts } from './api-facts.mjs';
import { evalCExpr } from './c-headers.mjs';
import { buildFacts, stringifyFacts } from './generate.mjs';
import { parseAnnotations, parseXdr } from './xdr-parser.mjs';

describe('parseXdr', () => {
  it('reads sizes, pointers, unsigned types and union arms', () => {
    const defs = parseXdr(
      `%#include "x.h"
const N = 0x10;
typedef string s<N>;
typedef s *maybe_s;
typedef opaque uuid[16];
struct st { unsigned hyper a; unsigned b; opaque blob<>; int list<N>; char c[4]; maybe_s m; };
union u switch (int type) { case 1: case 2: int i; case N: void; default: s name; };`,
      'test.x',
    );
    expect(defs.map((d) => `${d.kind}:${d.name}`)).toEqual([
      'const:N',
      'typedef:s',
      'typedef:maybe_s',
      'typedef:uuid',
      'struct:st',
      'union:u',
    ]);
    const st = defs[4];
    expect(st?.kind === 'struct' && st.fields.map((f) => f.type)).toEqual([
      { t: 'uhyper' },
      { t: 'uint' },
      { t: 'opaque', size: null },
      { t: 'array', of: { t: 'int' }, size: { name: 'N' } },
      { t: 'fixedArray', of: { t: 'char' }, fixed: { literal: 4 } },
      { t: 'ref', name: 'maybe_s' },
    ]);
    const u = defs[5];
    expect(u?.kind === 'union' && u.cases.map((c) => [c.values, c.field?.name ?? null])).toEqual([
      [[{ literal: 1 }, { literal: 2 }], 'i'],
      [[{ name: 'N' }], null],
    ]);
  });

  it('keeps the last doc comment in front of each enum member', () => {
    const defs = parseXdr(
      `enum p {
  /* not a doc comment */
  /**
   * @generate: both
   * @acl: domain:read
   * @acl: domain:write:VIR_DOMAIN_AFFECT_CONFIG
   */
  P_A = 1,
  P_B = 2
};`,
      'test.x',
    );
    const e = defs[0];
    if (e?.kind !== 'enum') throw new Error('expected an enum');
    expect(e.members[1]?.doc).toBeNull();
    expect(parseAnnotations(e.members[0]?.doc ?? '')).toEqual({
      generate: 'both',
      acl: ['domain:read', 'domain:write:VIR_DOMAIN_AFFECT_CONFIG'],
    });
  });

  it('refuses what it does not understand, naming the line', () => {
    expect(() => parseXdr('struct a {\n  string s;\n};', 'bad.x')).toThrow(
      /^bad\.x:2: string s needs a size$/,
    );
    expect(() => parseXdr('struct a { struct { int x; } y; };', 'bad.x')).toThrow(/inline 'struct'/);
    expect(() => parseXdr('program X {', 'bad.x')).toThrow(/unexpected 'program'/);
  });
});

describe('API names and read-only checks', () => {
  it('applies gendispatch.pl fixups per word', () => {
    expect(procName('DOMAIN_GET_XML_DESC')).toBe('DomainGetXMLDesc');
    expect(procName('NODE_DEVICE_LOOKUP_SCSI_HOST_BY_WWN')).toBe('NodeDeviceLookupSCSIHostByWWN');
    expect(procName('CONNECT_LIST_ALL_NWFILTERS')).toBe('ConnectListAllNWFilters');
    expect(candidateApiName('QEMU', 'QEMU_PROC_DOMAIN_MONITOR_COMMAND')).toBe('virDomainQemuMonitorCommand');
    expect(candidateApiName('QEMU', 'QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_REGISTER')).toBe(
      'virConnectDomainQemuMonitorEventRegister',
    );
  });

  it('tells an unconditional check from a flag-dependent one', () => {
    expect(readonlyFacts('{\n    virCheckReadOnlyGoto(conn->flags, error);\n}')).toEqual({
      forbidden: true,
      flagCheck: false,
      flags: [],
    });
    const body = `{
    if ((conn->flags & VIR_CONNECT_RO) &&
        (flags & (VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_MIGRATABLE))) {
        virReportError(VIR_ERR_OPERATION_DENIED, "%s", _("x"));
    }
}`;
    expect(readonlyFacts(body)).toEqual({
      forbidden: false,
      flagCheck: true,
      flags: ['VIR_DOMAIN_XML_SECURE', 'VIR_DOMAIN_XML_MIGRATABLE'],
    });
    // virCheckReadOnlyGoto under an if: refused only with that flag (virDomainGetVcpusFlags)
    const guarded =
      '{\n    if (flags & VIR_DOMAIN_VCPU_GUEST)\n        virCheckReadOnlyGoto(conn->flags, error);\n}';
    expect(readonlyFacts(guarded)).toEqual({
      forbidden: false,
      flagCheck: true,
      flags: ['VIR_DOMAIN_VCPU_GUEST'],
    });
  });

  it('evaluates header constant expressions', () => {
    expect(evalCExpr('(256 + 1)', () => 0)).toBe(257);
    expect(evalCExpr('1 << 3 | A', (n) => (n === 'A' ? 1 : 0))).toBe(9);
    expect(() => evalCExpr('"text"', () => 0)).toThrow(/cannot evaluate/);
  });
});

describe('buildFacts on a miniature source tree', () => {
  const root = mkdtempSync(join(tmpdir(), 'protocol-facts-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  /** @param {string} path @param {string} text */
  const put = (path, text) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  put('meson.build', "project(\n  'libvirt', 'c',\n  version: '1.2.3',\n)\n");
  put(
    'include/libvirt/libvirt-host.h',
    '# define VIR_UUID_BUFLEN (16)\ntypedef enum {\n  VIR_X_SECURE = (1 << 0),\n} virX;\n',
  );
  put(
    'src/libvirt_public.syms',
    'LIBVIRT_1 {\n  global:\n    virDomainGetXMLDesc;\n    virDomainFDAssociate;\n};\n',
  );
  put('src/libvirt_qemu.syms', 'LIBVIRT_QEMU_1 {\n  global:\n    virDomainQemuMonitorCommand;\n};\n');
  put(
    'src/libvirt-domain.c',
    `char *
virDomainGetXMLDesc(virDomainPtr domain, unsigned int flags)
{
    if ((conn->flags & VIR_CONNECT_RO) &&
        (flags & VIR_X_SECURE)) {
        goto error;
    }
}

int
virDomainFDAssociate(virDomainPtr domain)
{
    virCheckReadOnlyGoto(conn->flags, error);
}
`,
  );
  put(
    'src/remote/remote_protocol.x',
    `const REMOTE_PROGRAM = 0x20008086;
const REMOTE_PROTOCOL_VERSION = 1;
const REMOTE_STRING_MAX = 4194304;
typedef string remote_nonnull_string<REMOTE_STRING_MAX>;
typedef opaque remote_uuid[VIR_UUID_BUFLEN];
struct remote_domain_get_xml_desc_args { remote_uuid uuid; unsigned int flags; };
struct remote_domain_get_xml_desc_ret { remote_nonnull_string xml; };
struct remote_domain_event_lifecycle_msg { int event; };
enum remote_procedure {
    /**
     * @generate: both
     * @acl: domain:read
     */
    REMOTE_PROC_DOMAIN_GET_XML_DESC = 1,
    /**
     * @generate: both
     * @acl: none
     */
    REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE = 2,
    /**
     * @generate: none
     * @priority: high
     * @acl: domain:write
     */
    REMOTE_PROC_DOMAIN_FD_ASSOCIATE = 3
};
`,
  );
  put(
    'src/remote/qemu_protocol.x',
    `const QEMU_PROGRAM = 0x20008087;
const QEMU_PROTOCOL_VERSION = 1;
enum qemu_procedure {
    /**
     * @generate: none
     * @acl: domain:write
     */
    QEMU_PROC_DOMAIN_MONITOR_COMMAND = 1
};
`,
  );
  put(
    'src/rpc/virkeepaliveprotocol.x',
    'const KEEPALIVE_PROGRAM = 0x6b656570;\nconst KEEPALIVE_PROTOCOL_VERSION = 1;\nenum keepalive_procedure {\n    KEEPALIVE_PROC_PING = 1,\n    KEEPALIVE_PROC_PONG = 2\n};\n',
  );

  it('pairs procedures with their structs, APIs and read-only checks', () => {
    const facts = /** @type {any} */ (buildFacts(root));
    expect(facts.libvirt).toBe('1.2.3');
    expect(facts.programs.QEMU).toEqual({ program: 0x20008087, version: 1 });
    expect(facts.types.remote_uuid).toEqual({ kind: 'typedef', type: { t: 'opaque', fixed: 16 } });
    expect(facts.headerConstants).toEqual({ VIR_UUID_BUFLEN: 16 });
    const byName = Object.fromEntries(facts.procedures.map((/** @type {any} */ p) => [p.name, p]));
    expect(byName.REMOTE_PROC_DOMAIN_GET_XML_DESC).toEqual({
      program: 'REMOTE',
      number: 1,
      name: 'REMOTE_PROC_DOMAIN_GET_XML_DESC',
      api: 'virDomainGetXMLDesc',
      args: 'remote_domain_get_xml_desc_args',
      ret: 'remote_domain_get_xml_desc_ret',
      msg: null,
      priority: 'low',
      annotations: { acl: ['domain:read'], generate: 'both' },
      readonlyForbidden: false,
      readonlyFlagCheck: true,
      readonlyFlags: { VIR_X_SECURE: 1 },
    });
    expect(byName.REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE).toMatchObject({
      api: null,
      msg: 'remote_domain_event_lifecycle_msg',
    });
    // 'Fd' is not among gendispatch's fixups; the exported name differs only in case.
    expect(byName.REMOTE_PROC_DOMAIN_FD_ASSOCIATE).toMatchObject({
      api: 'virDomainFDAssociate',
      priority: 'high',
      readonlyForbidden: true,
    });
    expect(byName.QEMU_PROC_DOMAIN_MONITOR_COMMAND.api).toBe('virDomainQemuMonitorCommand');
    expect(facts.procedures.map((/** @type {any} */ p) => `${p.program}:${p.number}`)).toEqual([
      'REMOTE:1',
      'REMOTE:2',
      'REMOTE:3',
      'QEMU:1',
      'KEEPALIVE:1',
      'KEEPALIVE:2',
    ]);
  });

  it('refuses a reference to a type that does not exist', () => {
    const x = join(root, 'src/remote/qemu_protocol.x');
    const saved = readFileSync(x, 'utf8');
    try {
      writeFileSync(x, `${saved}struct qemu_broken_args { no_such_type x; };\n`);
      expect(() => buildFacts(root)).toThrow(/type qemu_broken_args: unknown type no_such_type/);
    } finally {
      writeFileSync(x, saved);
    }
  });
});

describe('stringifyFacts', () => {
  it('keeps short values on one line and wraps long ones', () => {
    const text = stringifyFacts({ a: { t: 'ref', name: 'x' }, b: ['x'.repeat(60), 'y'.repeat(60)] }, 40);
    expect(text).toBe(
      `{\n  "a": {"t": "ref", "name": "x"},\n  "b": [\n    "${'x'.repeat(60)}",\n    "${'y'.repeat(60)}"\n  ]\n}\n`,
    );
    expect(JSON.parse(text)).toEqual({ a: { t: 'ref', name: 'x' }, b: ['x'.repeat(60), 'y'.repeat(60)] });
  });
});

// Regenerating needs libvirt's source: LIBVIRT_SRC=/tmp/libvirt-9.0.0 npx vitest run
describe.skipIf(!process.env.LIBVIRT_SRC)('the checked-in libvirt-protocol.json', () => {
  it('is what the generator writes from LIBVIRT_SRC, byte for byte', () => {
    const checkedIn = readFileSync(
      new URL('../../../packages/remote/src/protocol/libvirt-protocol.json', import.meta.url),
      'utf8',
    );
    expect(stringifyFacts(buildFacts(/** @type {string} */ (process.env.LIBVIRT_SRC)))).toBe(checkedIn);
  });
});
