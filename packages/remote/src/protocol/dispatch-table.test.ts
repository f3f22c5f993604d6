import type { HypervisorDriver } from '@qvirt/core/hypervisor';
import { QemuDriver } from '@qvirt/driver';
import { describe, expect, it } from 'vitest';
import { createRemotePrograms } from '../remote/program.js';
import type { RemoteError } from '../rpc/error.js';
import { dispatchRows, HYPERVISOR_TABLE, QEMU_TABLE, SECRET_TABLE, STORAGE_TABLE } from './dispatch-table.js';
import { PROTOCOL } from './facts.js';

/** libvirt's rule for a contract method's name: the public API without `vir`, first letter lower-case. */
const apiOf = (method: string) => `vir${method[0]!.toUpperCase()}${method.slice(1)}`;

describe("the dispatch table against libvirt 9.0's protocol facts", () => {
  const rows = [...dispatchRows().values()];

  it('names only procedures libvirt has, each once', () => {
    const tables = [HYPERVISOR_TABLE, STORAGE_TABLE, SECRET_TABLE, QEMU_TABLE];
    expect(rows.length).toBe(tables.reduce((n, t) => n + Object.keys(t).length, 0));
    const numbers = rows.map((r) => `${r.fact.program}/${r.fact.number}`);
    expect(new Set(numbers).size).toBe(numbers.length);
    for (const r of rows) {
      expect(PROTOCOL.procedures).toContainEqual(r.fact);
      // libvirt-qemu's APIs travel in the QEMU program, every other in REMOTE
      expect(r.fact.program).toBe(Object.hasOwn(QEMU_TABLE, r.method) ? 'QEMU' : 'REMOTE');
    }
  });

  it('carries each method on the procedure of its libvirt API', () => {
    for (const r of rows) {
      // virConnectSupportsFeature is a driver entry point, not a public API
      if (r.fact.api === null) expect(r.fact.name).toBe('REMOTE_PROC_CONNECT_SUPPORTS_FEATURE');
      else expect(r.fact.api).toBe(apiOf(r.method));
    }
  });

  it("maps a method's parameters onto its args struct one for one, where the row does not say otherwise", () => {
    const proto = QemuDriver.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const r of rows) {
      if (r.spec.toArgs || r.kind !== 'hypervisor') continue;
      expect({ method: r.method, params: proto[r.method]?.length }).toEqual({
        method: r.method,
        params: r.argFields.length,
      });
    }
  });
});

describe('the served programs', () => {
  const { programs, dispose } = createRemotePrograms({
    drivers: { hypervisor: {} as HypervisorDriver },
    onDomainEvent: () => () => {},
  });
  dispose();
  const [remote, qemu] = programs as [(typeof programs)[0], (typeof programs)[0]];

  it("serve every row, under libvirt's number, name and read-only rule", () => {
    for (const r of dispatchRows().values()) {
      const p = (r.fact.program === 'QEMU' ? qemu : remote).procedures.get(r.fact.number);
      expect(p?.name).toBe(r.fact.api ?? r.fact.name);
      expect(p?.mutating).toBe(r.fact.readonlyForbidden);
    }
    for (const [n, p] of remote.procedures) {
      const fact = PROTOCOL.procedures.find((f) => f.program === 'REMOTE' && f.number === n);
      expect(fact, `procedure ${n}`).toBeDefined();
      expect(p.name).toBe(fact!.api ?? fact!.name);
    }
    expect(remote.program).toBe(0x20008086);
    expect(qemu.program).toBe(0x20008087);
  });

  it('answer what they do not serve as libvirtd does', () => {
    const err = (e: RemoteError | undefined) => ({ code: e?.codeName, message: e?.message });
    // a known API without a driver method: VIR_ERR_NO_SUPPORT naming it
    expect(err(remote.unknownProcedure?.(152))).toEqual({
      code: 'NO_SUPPORT',
      message: 'this function is not supported by the connection driver: virNetworkIsActive',
    });
    expect(err(qemu.unknownProcedure?.(7))).toEqual({
      code: 'NO_SUPPORT',
      message:
        'this function is not supported by the connection driver: virDomainQemuMonitorCommandWithFiles',
    });
    // an event message as a call, and a number beyond libvirt's: unknown procedure
    expect(err(remote.unknownProcedure?.(107))).toEqual({ code: 'RPC', message: 'unknown procedure: 107' });
    expect(err(remote.unknownProcedure?.(9999))).toEqual({ code: 'RPC', message: 'unknown procedure: 9999' });
  });
});
