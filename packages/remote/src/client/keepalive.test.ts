/**
 * The client's keepalive as libvirt's virKeepAliveTimer counts it: only pings that get nothing
 * back bring it closer to closing. Each PONG arrives just after the tick that sent its PING, so
 * the next tick can find the last packet a hair more than an interval old; that must not count.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { HypervisorDriver } from '@qvirt/core/hypervisor';
import { afterEach, expect, it } from 'vitest';
import { createRemotePrograms } from '../remote/program.js';
import { Server } from '../server/server.js';
import { RemoteClient } from './client.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

it('stays connected through many idle intervals while the daemon answers its pings', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'qvirt-keepalive-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  // the daemon never pings on its own (as with keepalive_interval = -1); it answers PINGs
  const server = new Server({ keepaliveInterval: -1 });
  const hypervisor = { connectGetType: async () => 'QEMU' } as unknown as HypervisorDriver;
  for (const p of createRemotePrograms({ drivers: { hypervisor }, onDomainEvent: () => () => {} }).programs)
    server.addProgram(p);
  const sock = path.join(dir, 'sock');
  const listener = net.createServer((s) => server.handle(s));
  await new Promise<void>((r) => listener.listen(sock, r));
  cleanups.push(
    () => new Promise((r) => listener.close(() => r())),
    () => server.closeAll(),
  );
  const interval = 0.02;
  const client = await RemoteClient.connect(net.connect(sock), {
    name: 'qemu:///system',
    keepalive: { interval, count: 2 },
  });
  cleanups.push(() => client.close().catch(() => {}));
  // 50 intervals of silence from the caller: each one a PING and its PONG
  await new Promise((r) => setTimeout(r, interval * 1000 * 50));
  expect(await client.connectGetType()).toBe('QEMU');
});
