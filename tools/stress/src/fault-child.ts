/**
 * One start in a process of its own, for the fault runs: `node fault-child.js ROOT NAME PHASE
 * VICTIM` starts NAME and, at PHASE, SIGKILLs itself (VICTIM `driver`) or the QEMU being started
 * (VICTIM `qemu`, then the start goes on). Prints the start's outcome as one JSON line.
 */
import { QemuDriver, type StartPhase } from '@qvirt/driver';
import { uriOf } from './host-state.js';

const [root, name, phase, victim] = process.argv.slice(2) as [string, string, StartPhase, 'driver' | 'qemu'];
const driver = await QemuDriver.open(uriOf(root!), {
  startPhaseHook: async (at, info) => {
    if (at !== phase) return;
    if (victim === 'driver') process.kill(process.pid, 'SIGKILL');
    else if (info.pid !== undefined) process.kill(info.pid, 'SIGKILL');
    // let the kill land before the start goes on
    await new Promise((r) => setTimeout(r, 200));
  },
});
try {
  const dom = await driver.start(name!);
  console.log(JSON.stringify({ ok: dom.state }));
} catch (err) {
  console.log(JSON.stringify({ error: (err as Error).message }));
}
await driver.close();
