/**
 * The agent protocol's edges that a healthy guest never shows (libvirt's qemu_agent.c rules):
 * garbage before the first sync, stale replies, timeouts and a new sync after one, a command
 * whose agent goes away, and a guest-shutdown that ends with the guest. The peer is a unix
 * socket speaking the agent's line protocol from a script, as QEMU's end of the channel would.
 * (The real agent in the Linux test guest is in @qvirt/remote's guest-agent contract suite.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DomainDef } from '@qvirt/core';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentSlot } from './agent-channel.js';
import { AGENT_CHANNEL_NAME, GuestAgent } from './guest-agent.js';

interface Peer {
  path: string;
  lines: string[];
  socket: Promise<Socket>;
  server: Server;
}

let dir: string | undefined;
const peers: Peer[] = [];

/** A listening socket; `answer` gets each line the agent writes and may reply. */
function peer(answer: (line: string, s: Socket) => void): Promise<Peer> {
  dir ??= mkdtempSync(path.join(tmpdir(), 'qvirt-agent-unit-'));
  const p = path.join(dir, `a${peers.length}.sock`);
  const lines: string[] = [];
  let gotSocket: (s: Socket) => void = () => {};
  const socket = new Promise<Socket>((r) => {
    gotSocket = r;
  });
  const server = createServer((s) => {
    gotSocket(s);
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        answer(line, s);
      }
    });
    s.on('error', () => {});
  });
  return new Promise((resolve) =>
    server.listen(p, () => {
      const made = { path: p, lines, socket, server };
      peers.push(made);
      resolve(made);
    }),
  );
}

const syncId = (line: string) => (JSON.parse(line) as { arguments?: { id?: number } }).arguments?.id;

afterEach(() => {
  for (const p of peers.splice(0)) p.server.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('GuestAgent', () => {
  it('syncs once, skips garbage and stale replies, and keeps the reply of its own command', async () => {
    let syncs = 0;
    const p = await peer((line, s) => {
      const cmd = JSON.parse(line) as { execute: string };
      if (cmd.execute === 'guest-sync') {
        syncs++;
        // a reply left over from an earlier client, then garbage, then the answer
        s.write(`{"return": 12}\n{"ret\n{"return": ${syncId(line)}}\n`);
      } else s.write('{"return": {"host-name": "g"}}\n');
    });
    const a = await GuestAgent.open(p.path);
    expect(await a.call('guest-get-host-name', undefined, 5)).toEqual({ 'host-name': 'g' });
    expect(await a.call('guest-get-host-name', undefined, 5)).toEqual({ 'host-name': 'g' });
    // garbage answers the first sync: libvirt sends a second; once in sync, no more
    expect(syncs).toBe(2);
    a.close();
  });

  it('times out as libvirt does, then syncs again before the next command', async () => {
    let silent = true;
    const p = await peer((line, s) => {
      const cmd = JSON.parse(line) as { execute: string };
      if (cmd.execute === 'guest-sync') s.write(`{"return": ${syncId(line)}}\n`);
      else if (!silent) s.write('{"return": {}}\n');
    });
    const a = await GuestAgent.open(p.path);
    await expect(a.call('guest-ping', undefined, 1)).rejects.toThrow(
      'Guest agent is not responding: Guest agent not available for now',
    );
    silent = false;
    expect(await a.call('guest-ping', undefined, 1)).toEqual({});
    expect(p.lines.filter((l) => l.includes('guest-sync'))).toHaveLength(2);
    a.close();
  });

  it("reports the agent's errors in libvirt's words", async () => {
    const p = await peer((line, s) => {
      const cmd = JSON.parse(line) as { execute: string };
      if (cmd.execute === 'guest-sync') s.write(`{"return": ${syncId(line)}}\n`);
      else if (cmd.execute === 'nodesc') s.write('{"error": {"class": "CommandDisabled"}}\n');
      else s.write('{"error": {"class": "GenericError", "desc": "it broke"}}\n');
    });
    const a = await GuestAgent.open(p.path);
    await expect(a.call('guest-x', undefined, 2)).rejects.toThrow(
      "internal error: unable to execute QEMU agent command 'guest-x': it broke",
    );
    await expect(a.call('nodesc', undefined, 2)).rejects.toThrow(
      "internal error: unable to execute QEMU agent command 'nodesc': The command has been disabled for this instance",
    );
    a.close();
  });

  it('ends a guest-shutdown when the guest goes, and fails any other command', async () => {
    let closed = 0;
    const p = await peer((line, s) => {
      const cmd = JSON.parse(line) as { execute: string };
      if (cmd.execute === 'guest-sync') s.write(`{"return": ${syncId(line)}}\n`);
      // guest-shutdown has no reply: the agent stops with the guest
      else if (cmd.execute === 'guest-shutdown') setTimeout(() => s.destroy(), 50);
    });
    const a = await GuestAgent.open(p.path, () => closed++);
    const reply = await a.command({ execute: 'guest-shutdown', arguments: { mode: 'powerdown' } }, 60, {
      awaitEvent: 'shutdown',
    });
    expect(reply).toBeUndefined();
    expect(closed).toBe(1);
    await expect(a.call('guest-ping', undefined, 1)).rejects.toThrow(
      'Guest agent is not responding: Guest agent disappeared while executing command',
    );

    const q = await peer((line, s) => {
      if (line.includes('guest-sync')) s.write(`{"return": ${syncId(line)}}\n`);
    });
    const b = await GuestAgent.open(q.path);
    const pending = b.call('guest-ping', undefined, -2);
    await new Promise((r) => setTimeout(r, 100));
    (await q.socket).destroy();
    await expect(pending).rejects.toThrow('internal error: End of file from agent socket');
    // a QEMU SHUTDOWN event ends a waiting guest-shutdown (qemuAgentNotifyEvent)
    const r = await peer((line, s) => {
      if (line.includes('guest-sync')) s.write(`{"return": ${syncId(line)}}\n`);
    });
    const c = await GuestAgent.open(r.path);
    const shutdown = c.command({ execute: 'guest-shutdown' }, 60, { awaitEvent: 'shutdown' });
    await new Promise((res) => setTimeout(res, 100));
    c.notifyEvent('reset');
    c.notifyEvent('shutdown');
    expect(await shutdown).toBeUndefined();
    c.close();
  });
});

describe("the domain's agent timeout (virDomainAgentSetResponseTimeout)", () => {
  it('applies to the agent connected now and to the one connected next', async () => {
    // an agent that syncs but never answers a command
    const p = await peer((line, s) => {
      if (line.includes('guest-sync')) s.write(`{"return": ${syncId(line)}}\n`);
    });
    const def = {
      devices: {
        channel: [
          {
            type: 'unix',
            source: [{ path: p.path, mode: 'bind' }],
            target: { type: 'virtio', name: AGENT_CHANNEL_NAME, state: 'connected' },
          },
        ],
      },
    } as unknown as DomainDef;
    const slot = new AgentSlot({
      live: () => def,
      active: () => true,
      emit: () => {},
      saveStatus: async () => {},
      warn: () => {},
    });
    slot.timeout = 1;
    await slot.connect();
    // the command takes the agent's own timeout: 1 s, not libvirt's default of blocking
    const started = Date.now();
    await expect(slot.agent!.call('guest-ping')).rejects.toThrow(
      'Guest agent is not responding: Guest agent not available for now',
    );
    expect(Date.now() - started).toBeLessThan(3000);
    slot.timeout = 0;
    expect(slot.agent!.timeout).toBe(0);
    // the agent of the guest's next connection starts with it
    slot.close();
    await slot.connect();
    expect(slot.agent!.timeout).toBe(0);
    slot.close();
  });
});
