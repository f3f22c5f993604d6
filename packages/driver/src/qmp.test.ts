import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { QmpClient, QmpCommandError } from './qmp.js';

const GREETING = {
  QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: '' }, capabilities: ['oob'] },
};
let server: Server | undefined;
let dir: string | undefined;

afterEach(() => {
  server?.close();
  server = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A fake QEMU monitor: answers each command through `reply` (undefined: no answer). */
async function fakeMonitor(
  reply: (cmd: { execute: string; id: string }, sock: Socket) => unknown,
): Promise<string> {
  dir = mkdtempSync(path.join(tmpdir(), 'qvirt-qmp-'));
  const sockPath = path.join(dir, 'monitor.sock');
  server = createServer((sock) => {
    sock.write(`${JSON.stringify(GREETING)}\r\n`);
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const cmd = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        const r = reply(cmd, sock);
        if (r !== undefined) sock.write(`${JSON.stringify({ ...(r as object), id: cmd.id })}\r\n`);
      }
    });
  });
  await new Promise<void>((r) => server!.listen(sockPath, r));
  return sockPath;
}

describe('QmpClient', () => {
  it('greets, negotiates, matches replies by id, reports events and errors', async () => {
    const seen: string[] = [];
    const p = await fakeMonitor((cmd, sock) => {
      seen.push(`${cmd.execute}:${cmd.id}`);
      if (cmd.execute === 'stop') {
        sock.write(`${JSON.stringify({ event: 'STOP', timestamp: { seconds: 1, microseconds: 2 } })}\r\n`);
        return { return: {} };
      }
      if (cmd.execute === 'bogus') {
        return { error: { class: 'CommandNotFound', desc: 'The command bogus has not been found' } };
      }
      return { return: { status: 'running', running: true } };
    });
    const qmp = await QmpClient.connect(p);
    expect(qmp.greeting?.version.qemu.major).toBe(7);
    const events: string[] = [];
    qmp.on('event', (e) => events.push(e.event));
    await qmp.execute('stop');
    expect(events).toEqual(['STOP']);
    expect(await qmp.execute('query-status')).toEqual({ status: 'running', running: true });
    const err = await qmp.execute('bogus').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpCommandError);
    expect((err as Error).message).toBe(
      "internal error: unable to execute QEMU command 'bogus': The command bogus has not been found",
    );
    expect(seen).toEqual([
      'qmp_capabilities:libvirt-1',
      'stop:libvirt-2',
      'query-status:libvirt-3',
      'bogus:libvirt-4',
    ]);
    qmp.close();
  });

  it('times a command out without breaking the connection, and fails pending commands on close', async () => {
    const p = await fakeMonitor((cmd, sock) => {
      if (cmd.execute === 'hang') return undefined;
      if (cmd.execute === 'die') {
        sock.destroy();
        return undefined;
      }
      return { return: {} };
    });
    const qmp = await QmpClient.connect(p);
    await expect(qmp.execute('hang', undefined, { timeoutMs: 50 })).rejects.toThrow(
      /Timed out during operation/,
    );
    await expect(qmp.execute('cont')).resolves.toEqual({});
    const closed = new Promise((r) => qmp.once('close', r));
    await expect(qmp.execute('die')).rejects.toThrow(/monitor connection closed/);
    await closed;
    await expect(qmp.execute('cont')).rejects.toThrow(/closed/);
  });

  it('retries while the socket is not there yet, and gives up at the deadline', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'qvirt-qmp-'));
    await expect(
      QmpClient.connect(path.join(dir, 'none.sock'), { retry: true, timeoutMs: 100 }),
    ).rejects.toThrow(/failed to connect to monitor socket/);
  });
});
