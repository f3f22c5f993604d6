/** A HelperIo that records what virt-aa-helper prints and which parser runs it asks for. */
import type { HelperIo } from '../cli.js';
import { nodeHelperFs } from '../node-io.js';

export interface RecordedIo extends HelperIo {
  out: string;
  err: string;
  parserRuns: string[][];
}

export function recordedIo(
  args: string[],
  stdin = '',
  extra: Partial<HelperIo> & { parserStatus?: number } = {},
): RecordedIo {
  const io: RecordedIo = {
    args,
    argv0: '/usr/lib/libvirt/virt-aa-helper',
    out: '',
    err: '',
    parserRuns: [],
    readStdin: async () => stdin,
    stdout: (t) => {
      io.out += t;
    },
    stderr: (t) => {
      io.err += t;
    },
    fs: nodeHelperFs(),
    runParser: async (flag, profile) => {
      io.parserRuns.push([flag, profile]);
      return extra.parserStatus ?? 0;
    },
    ...extra,
  };
  return io;
}
