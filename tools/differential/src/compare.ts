/**
 * What counts as a difference. Values each side invents (a UUID, MAC address, genid or OVS
 * interfaceid the input did not give, the instance's own root directory) are replaced by
 * placeholders before the comparison; everything else must match line for line, and a refusal
 * must be a refusal on both sides with the same message.
 */
import type { SideResult } from './libvirt-side.js';

export type Kind = 'same' | 'qvirt-accepts' | 'qvirt-refuses' | 'message' | 'xml' | 'argv' | 'libvirt-crash';

export interface Difference {
  kind: Exclude<Kind, 'same'>;
  /** the first differing element or attribute (xml), option (argv), or libvirt's message */
  where: string;
  libvirt: string;
  qvirt: string;
}

const UUID = /\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b/g;
const MAC = /\b52:54:00(?::[0-9a-f]{2}){3}\b/g;

/** Placeholders for what the input did not give; `root` is the side's instance directory. */
export function normalise(text: string, input: string, root: string): string {
  const given = input.toLowerCase();
  return (
    text
      .replaceAll(root, 'ROOT')
      // descriptor numbers in domxml-to-native depend on what the converting process has open
      .replace(/"(vhost)?fds?":"[\d:]+"/g, '"$1fd":"FD"')
      .replace(/\b((?:vhost)?fds?)=[\d:]+/g, '$1=FD')
      .replace(UUID, (u) => (given.includes(u.toLowerCase()) ? u : 'UUID'))
      .replace(MAC, (m) => (given.includes(m) ? m : 'MAC'))
  );
}

/** The element, attribute or option a line is about, for grouping. */
function subject(line: string): string {
  const el = /<\/?([a-zA-Z:_-]+)/.exec(line);
  return el ? `<${el[1]}>` : line.trim().slice(0, 60);
}

function firstLineDiff(a: string, b: string): { where: string; libvirt: string; qvirt: string } | undefined {
  const la = a.trimEnd().split('\n');
  const lb = b.trimEnd().split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) {
      const x = la[i] ?? '(end)';
      const y = lb[i] ?? '(end)';
      return { where: subject(x === '(end)' ? y : x), libvirt: x.trim(), qvirt: y.trim() };
    }
  }
  return undefined;
}

/** One word per option value, as `domxml-to-native` prints (quoted JSON stays one word). */
export function argvWords(argv: string): string[] {
  const words: string[] = [];
  const re = /'((?:[^']|'\\'')*)'|(\S+)/g;
  for (let m = re.exec(argv); m; m = re.exec(argv)) words.push(m[1] ?? m[2]!);
  return words;
}

function firstArgvDiff(a: string, b: string): { where: string; libvirt: string; qvirt: string } | undefined {
  const wa = argvWords(a);
  const wb = argvWords(b);
  for (let i = 0; i < Math.max(wa.length, wb.length); i++) {
    if (wa[i] !== wb[i]) {
      let opt = i;
      while (opt > 0 && !(wa[opt] ?? '').startsWith('-')) opt--;
      const option = wa[opt]?.startsWith('-') ? wa[opt]! : '(start)';
      const x = wa[i] ?? '(end)';
      const y = wb[i] ?? '(end)';
      // a -device/-object is told apart by its driver
      const driver = /"(?:driver|qom-type)":"([^"]+)"/.exec(x.startsWith('-') ? (wa[i + 1] ?? '') : x)?.[1];
      return { where: driver ? `${option} ${driver}` : option, libvirt: x, qvirt: y };
    }
  }
  return undefined;
}

export function compare(
  input: string,
  lv: SideResult,
  lvRoot: string,
  qv: SideResult,
  qvRoot: string,
): Difference[] {
  const out: Difference[] = [];
  // libvirt-python died under this case (a libvirt bug): nothing to compare against
  if ('error' in lv.define && lv.define.error.startsWith('crash: '))
    return [{ kind: 'libvirt-crash', where: 'libvirt-python died', libvirt: lv.define.error, qvirt: '' }];
  const pairs: [
    'define' | 'native',
    string | undefined,
    string | undefined,
    string | undefined,
    string | undefined,
  ][] = [
    [
      'define',
      'xml' in lv.define ? lv.define.xml : undefined,
      'error' in lv.define ? lv.define.error : undefined,
      'xml' in qv.define ? qv.define.xml : undefined,
      'error' in qv.define ? qv.define.error : undefined,
    ],
    [
      'native',
      'argv' in lv.native ? lv.native.argv : undefined,
      'error' in lv.native ? lv.native.error : undefined,
      'argv' in qv.native ? qv.native.argv : undefined,
      'error' in qv.native ? qv.native.error : undefined,
    ],
  ];
  for (const [what, lvOk, lvErr, qvOk, qvErr] of pairs) {
    // a refusal at define that repeats at domxml-to-native is counted once
    if (
      what === 'native' &&
      out.some((d) => d.libvirt === (lvErr ?? '(accepted)') && d.qvirt === (qvErr ?? '(accepted)'))
    )
      continue;
    if (lvErr !== undefined && qvErr === undefined) {
      out.push({ kind: 'qvirt-accepts', where: `${what}: ${lvErr}`, libvirt: lvErr, qvirt: '(accepted)' });
    } else if (lvErr === undefined && qvErr !== undefined) {
      out.push({ kind: 'qvirt-refuses', where: `${what}: ${qvErr}`, libvirt: '(accepted)', qvirt: qvErr });
    } else if (lvErr !== undefined && qvErr !== undefined) {
      if (lvErr !== qvErr)
        out.push({ kind: 'message', where: `${what}: ${lvErr}`, libvirt: lvErr, qvirt: qvErr });
    } else if (what === 'define') {
      const d = firstLineDiff(normalise(lvOk!, input, lvRoot), normalise(qvOk!, input, qvRoot));
      if (d) out.push({ kind: 'xml', ...d });
    } else {
      const d = firstArgvDiff(normalise(lvOk!, input, lvRoot), normalise(qvOk!, input, qvRoot));
      if (d) out.push({ kind: 'argv', ...d });
    }
  }
  return out;
}
