/**
 * The agent of one running domain as the driver keeps it (libvirt's priv->agent and
 * priv->agentError with qemuConnectAgent, qemuProcessRefreshChannelVirtioState,
 * processSerialChangedEvent and qemuDomainAgentAvailable): the virtio channels' state from QEMU
 * (`query-chardev`'s frontend-open at start, VSERPORT_CHANGE later) into the live definition's
 * `<target state>`, the agent connected when its port is open and closed when it closes, and the
 * VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE event for each change of the agent's port.
 */
import { type DomainDef, virReportError } from '@qvirt/core';
import { type DomainEvent, VIR_DOMAIN_EVENT_ID } from '@qvirt/core/hypervisor';
import {
  AGENT_CHANNEL_NAME,
  AGENT_TIMEOUT,
  type AgentChannel,
  findAgentConfig,
  GuestAgent,
} from './guest-agent.js';

/** VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_* */
export const AGENT_LIFECYCLE_STATE = { CONNECTED: 1, DISCONNECTED: 2 } as const;
/** VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_* */
export const AGENT_LIFECYCLE_REASON = { UNKNOWN: 0, DOMAIN_STARTED: 1, CHANNEL: 2 } as const;

/** What the slot needs of its domain. */
export interface AgentSlotHost {
  /** The running definition (its channels' state is written there). */
  live(): DomainDef | undefined;
  /** Whether the domain still runs (a connect that finishes after a stop is undone). */
  active(): boolean;
  emit(event: Omit<DomainEvent, 'dom'>): void;
  saveStatus(): Promise<void>;
  /** A warning for the driver's log (libvirt's VIR_WARN). */
  warn(message: string): void;
}

interface ChardevInfo {
  label: string;
  'frontend-open'?: boolean;
}

const virtioChannels = (def: DomainDef | undefined): AgentChannel[] =>
  ((def?.devices as { channel?: AgentChannel[] } | undefined)?.channel ?? []).filter(
    (c) => c.target?.type === 'virtio',
  );

export class AgentSlot {
  readonly #host: AgentSlotHost;
  agent: GuestAgent | undefined;
  /** The agent could not be connected (priv->agentError). */
  agentError = false;
  #timeout: number = AGENT_TIMEOUT.BLOCK;

  /**
   * priv->agentTimeout (virDomainAgentSetResponseTimeout): the timeout of the agent's commands,
   * for the agent connected now and those to come.
   */
  get timeout(): number {
    return this.#timeout;
  }
  set timeout(seconds: number) {
    this.#timeout = seconds;
    if (this.agent) this.agent.timeout = seconds;
  }

  constructor(host: AgentSlotHost) {
    this.#host = host;
  }

  /**
   * qemuProcessRefreshChannelVirtioState: each virtio channel's state from `query-chardev`; the
   * agent's port reports its state as an event (reason "domain started" at a start).
   */
  refresh(chardevs: ChardevInfo[], booted: boolean): void {
    const byLabel = new Map(chardevs.map((c) => [c.label, c]));
    for (const chr of virtioChannels(this.#host.live())) {
      const entry = byLabel.get(`char${chr.alias?.name ?? ''}`);
      if (entry?.['frontend-open'] === undefined) continue;
      const state = entry['frontend-open'] ? 'connected' : 'disconnected';
      chr.target = { ...chr.target, state };
      if (chr.target.name === AGENT_CHANNEL_NAME) {
        this.#event(state, booted ? AGENT_LIFECYCLE_REASON.DOMAIN_STARTED : AGENT_LIFECYCLE_REASON.CHANNEL);
      }
    }
  }

  /** processSerialChangedEvent: QEMU's VSERPORT_CHANGE for the port with alias `alias`. */
  async serialChanged(alias: string, open: boolean): Promise<void> {
    const state = open ? 'connected' : 'disconnected';
    if (!this.#host.active()) return;
    const chr = virtioChannels(this.#host.live()).find((c) => c.alias?.name === alias);
    if (!chr) return;
    chr.target = { ...chr.target, state };
    await this.#host.saveStatus().catch(() => {});
    if (chr.target.name !== AGENT_CHANNEL_NAME) return;
    if (open) await this.connect();
    else {
      this.agent?.close();
      this.agent = undefined;
      this.agentError = false;
    }
    this.#event(state, AGENT_LIFECYCLE_REASON.CHANNEL);
  }

  /**
   * processSerialChangedEvent's first step, before it waits for the domain: the agent's port
   * closing ends the agent at once, so that a command waiting for it finishes.
   */
  closing(alias: string): void {
    if (!this.agent) return;
    const chr = virtioChannels(this.#host.live()).find((c) => c.alias?.name === alias);
    if (chr?.target?.name === AGENT_CHANNEL_NAME) this.agent.close();
  }

  /** qemuConnectAgent: opens the agent when its port is open (and not already). */
  async connect(): Promise<void> {
    const config = findAgentConfig(this.#host.live());
    if (!config || this.agent || config.target?.state !== 'connected') return;
    const path = config.source?.[0]?.path;
    try {
      if (config.type !== 'unix' || !path)
        throw virReportError('INTERNAL_ERROR', 'qemu', `unable to handle agent type: ${config.type}`);
      const agent = await GuestAgent.open(path, () => this.#eof(agent));
      if (!this.#host.active()) {
        agent.close();
        return;
      }
      agent.timeout = this.#timeout;
      this.agent = agent;
      this.agentError = false;
    } catch (err) {
      this.#host.warn(`Cannot connect to QEMU guest agent: ${(err as Error).message}`);
      this.agentError = true;
    }
  }

  /** qemuProcessHandleAgentEOF: the agent's socket ended; the next command finds no agent. */
  #eof(agent: GuestAgent): void {
    if (this.agent !== agent) return;
    this.agent = undefined;
    agent.close();
  }

  /** The domain stopped (qemuProcessStop closes the agent). */
  close(): void {
    this.agent?.close();
    this.agent = undefined;
    this.agentError = false;
  }

  #event(state: 'connected' | 'disconnected', reason: number): void {
    this.#host.emit({
      eventID: VIR_DOMAIN_EVENT_ID.AGENT_LIFECYCLE,
      state: state === 'connected' ? AGENT_LIFECYCLE_STATE.CONNECTED : AGENT_LIFECYCLE_STATE.DISCONNECTED,
      reason,
    });
  }
}

/**
 * qemuDomainAgentAvailable: the agent of a running domain, or libvirt's refusal (not running,
 * an agent that failed, one not connected, or none configured).
 */
export function agentAvailable(
  slot: AgentSlot | undefined,
  running: boolean,
  def: DomainDef | undefined,
): GuestAgent {
  if (!running) throw virReportError('OPERATION_INVALID', 'qemu', 'domain is not running');
  if (slot?.agentError)
    throw virReportError('AGENT_UNRESPONSIVE', 'qemu', 'QEMU guest agent is not available due to an error');
  if (!slot?.agent) {
    if (findAgentConfig(def))
      throw virReportError('AGENT_UNRESPONSIVE', 'qemu', 'QEMU guest agent is not connected');
    throw virReportError('ARGUMENT_UNSUPPORTED', 'qemu', 'QEMU guest agent is not configured');
  }
  return slot.agent;
}

/**
 * qemuDomainPrepareChannel: a virtio unix channel without a path binds one in the domain's
 * channel directory (its target name, or `vioser-CC-BB-PP.sock` by address); the live definition
 * shows it, and the agent connects to it.
 */
export function prepareChannelPaths(def: DomainDef, channelDir: string): void {
  for (const chr of virtioChannels(def)) {
    if (chr.type !== 'unix' || chr.source?.[0]?.path) continue;
    let name = chr.target?.name;
    if (!name) {
      const a = (chr as { address?: { controller?: number; bus?: number; port?: number } }).address;
      const two = (n: number | undefined) => String(n ?? 0).padStart(2, '0');
      name = `vioser-${two(a?.controller)}-${two(a?.bus)}-${two(a?.port)}.sock`;
    }
    const first = chr.source?.[0] ?? {};
    chr.source = [{ ...first, mode: first.mode ?? 'bind', path: `${channelDir}/${name}` }];
  }
}
