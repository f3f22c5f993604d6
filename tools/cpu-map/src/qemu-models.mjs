// QEMU's own x86 CPU model definitions, asked of a QEMU binary over QMP without a machine
// (`-machine none`, TCG): query-cpu-definitions for the models, their aliases and deprecation,
// and a static expansion of each model for its vendor, signature and feature set. Features are
// translated to libvirt's names through the map's aliases (as libvirt's
// virQEMUCapsCPUFeatureFromQEMU does); features libvirt's map does not know are kept apart.

import { spawnSync } from 'node:child_process';

/**
 * @typedef {{ name: string, aliasOf?: string, deprecated?: true, vendor?: string,
 *             family?: number, model?: number, stepping?: number, features: string[],
 *             qemuOnlyFeatures: string[] }} QemuModel
 * @typedef {{ version: string, models: QemuModel[] }} QemuFacts
 */

/**
 * Runs QMP commands against `binary -machine none` and returns the replies in order.
 * @param {string} binary @param {object[]} commands @returns {any[]}
 */
export function qmpBatch(binary, commands) {
  const input = [{ execute: 'qmp_capabilities' }, ...commands, { execute: 'quit' }]
    .map((c) => JSON.stringify(c))
    .join('\n');
  const run = spawnSync(binary, ['-machine', 'none', '-nodefaults', '-display', 'none', '-qmp', 'stdio'], {
    input: `${input}\n`,
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (run.error) throw run.error;
  const replies = run.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((r) => !('QMP' in r) && !('event' in r));
  // first reply answers qmp_capabilities, last one quit
  const answers = replies.slice(1, 1 + commands.length);
  for (const [i, a] of answers.entries()) {
    if (a.error) throw new Error(`${binary}: ${JSON.stringify(commands[i])}: ${a.error.desc}`);
  }
  if (answers.length !== commands.length)
    throw new Error(`${binary}: QMP answered ${answers.length} of ${commands.length} commands`);
  return answers.map((a) => a.return);
}

/**
 * @param {string} binary  e.g. qemu-system-x86_64
 * @param {{ name: string, aliases?: { name: string, source: string }[] }[]} mapFeatures
 * @returns {QemuFacts}
 */
export function qemuX86Models(binary, mapFeatures) {
  const [version, defs] = qmpBatch(binary, [
    { execute: 'query-version' },
    { execute: 'query-cpu-definitions' },
  ]);
  const q = version.qemu;
  /** @type {Map<string, string>} */
  const toLibvirt = new Map();
  for (const f of mapFeatures) {
    toLibvirt.set(f.name, f.name);
    for (const a of f.aliases ?? []) toLibvirt.set(a.name, f.name);
  }
  const order = new Map(mapFeatures.map((f, i) => [f.name, i]));
  // host, max and base are not models in the CPU map's sense (host-passthrough, maximum,
  // and the empty base of static expansions).
  /** @type {{ name: string, 'alias-of'?: string, deprecated?: boolean, static?: boolean }[]} */
  const models = defs.filter((/** @type {any} */ d) => !['host', 'max', 'base'].includes(d.name));
  models.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const expansions = qmpBatch(
    binary,
    models.map((m) => ({
      execute: 'query-cpu-model-expansion',
      arguments: { type: 'static', model: { name: m.name } },
    })),
  );
  return {
    version: `${q.major}.${q.minor}.${q.micro}`,
    models: models.map((m, i) => {
      /** @type {Record<string, unknown>} */
      const props = expansions[i].model.props;
      const on = Object.keys(props).filter((k) => props[k] === true);
      /** @type {QemuModel} */
      const out = { name: m.name, features: [], qemuOnlyFeatures: [] };
      if (m['alias-of']) out.aliasOf = m['alias-of'];
      if (m.deprecated) out.deprecated = true;
      if (typeof props.vendor === 'string') out.vendor = props.vendor;
      for (const k of /** @type {const} */ (['family', 'model', 'stepping'])) {
        if (typeof props[k] === 'number') out[k] = /** @type {number} */ (props[k]);
      }
      const lv = new Set(on.map((k) => toLibvirt.get(k)).filter((n) => n !== undefined));
      out.features = [...lv].sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
      out.qemuOnlyFeatures = on.filter((k) => !toLibvirt.has(k)).sort();
      const { features, qemuOnlyFeatures, ...head } = out;
      return { ...head, features, qemuOnlyFeatures };
    }),
  };
}
