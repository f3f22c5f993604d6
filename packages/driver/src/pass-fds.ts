/**
 * Descriptors QEMU must find at fixed numbers: the `fd=N` / `fds=N:M` of `-netdev tap` (libvirt's
 * qemuFDPassDirectTransferCommand passes each at its own number). The launch chain uses low numbers
 * itself (3: the handshake, 4: the fstab of the private /dev), so the descriptors enter the chain
 * above every number in use and the chain's last shell step moves them into place, just before it
 * becomes QEMU:
 *
 *   exec 3<&10 4<&11 10<&- 11<&-
 *
 * Every waiting number is above every final one, so no move overwrites a descriptor still to be
 * moved, and all waiting copies are closed.
 */

/** The launch's plan: which descriptor enters the chain at which number, and the shell step. */
export interface PassedFdPlan {
  /** Number in the chain → descriptor of this process (for spawn's stdio array). */
  waiting: Map<number, number>;
  /** The shell redirections that move them to their final numbers (empty when none). */
  moves: string;
}

/**
 * `passFds`: final number in QEMU → descriptor of this process. `firstFree`: the lowest number
 * the chain itself does not use.
 */
export function planPassedFds(
  passFds: ReadonlyMap<number, number> | undefined,
  firstFree: number,
): PassedFdPlan {
  const waiting = new Map<number, number>();
  if (!passFds || passFds.size === 0) return { waiting, moves: '' };
  const targets = [...passFds.keys()].sort((a, b) => a - b);
  for (const t of targets) {
    if (!Number.isInteger(t) || t < 3) throw new Error(`invalid descriptor number ${t} for QEMU`);
  }
  const base = Math.max(firstFree, targets[targets.length - 1]! + 1);
  const moves: string[] = [];
  const closes: string[] = [];
  targets.forEach((t, i) => {
    waiting.set(base + i, passFds.get(t)!);
    moves.push(`${t}<&${base + i}`);
    closes.push(`${base + i}<&-`);
  });
  return { waiting, moves: `exec ${[...moves, ...closes].join(' ')}` };
}

type StdioEntry = 'ignore' | 'pipe' | 'inherit' | number;

/** spawn's stdio array with the waiting descriptors at their numbers (gaps closed). */
export function stdioWithPassedFds(stdio: StdioEntry[], plan: PassedFdPlan): StdioEntry[] {
  const out = [...stdio];
  for (const [n, fd] of plan.waiting) {
    while (out.length < n) out.push('ignore');
    out[n] = fd;
  }
  return out;
}
