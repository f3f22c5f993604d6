/** A recording fake security driver for the stack, manager and registry tests. */
import type { SecurityDriver, SecurityHookName } from '../driver.js';
import { STACK_RULES } from '../stack.js';

export const ALL_HOOKS = Object.keys(STACK_RULES) as SecurityHookName[];

export interface FakeDriverOptions {
  /** Hooks that throw `NAME failed at HOOK`. */
  failAt?: SecurityHookName[];
  /** Leave these hooks out (a NULL entry in libvirt). */
  omit?: SecurityHookName[];
  probe?: 'enable' | 'disable';
  model?: string;
  /** What GenLabel writes into the domain's seclabel of this model. */
  label?: string;
}

export type FakeDriver = SecurityDriver & { log: string[] };

export function fakeDriver(name: string, log: string[] = [], options: FakeDriverOptions = {}): FakeDriver {
  const d: Record<string, unknown> = {
    name,
    log,
    probe: () => options.probe ?? 'enable',
    getModel: () => options.model ?? name,
    getDOI: () => '0',
  };
  for (const hook of ALL_HOOKS) {
    if (options.omit?.includes(hook)) continue;
    d[hook] = async (...args: unknown[]) => {
      log.push(`${name}.${hook}`);
      if (options.failAt?.includes(hook)) throw new Error(`${name} failed at ${hook}`);
      if (hook === 'getBaseLabel') return `${name}-base-${args[0]}`;
      if (hook === 'domainGetSecurityMountOptions') return `${name}-opts`;
      if (hook === 'domainGetSecurityProcessLabel') return { label: `${name}-proc`, enforcing: false };
      if (hook === 'domainGenSecurityLabel' && options.label !== undefined) {
        const def = args[0] as { seclabel?: Array<{ model?: string; label?: string }> };
        const l = def.seclabel?.find((s) => s.model === name);
        if (l) l.label = options.label;
      }
      return undefined;
    };
  }
  return d as unknown as FakeDriver;
}
