import { describe, expect, it } from 'vitest';
import { referenceContext } from '../context.js';
import { domxmlToCommandLine } from '../native.js';
import { formatCommandLine, shellQuote } from './command-line.js';
import { jsonProps, opts, optsValue } from './props.js';

const domain = (name: string, file: string) =>
  `<domain type='qemu'><name>${name}</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>` +
  `<memory>65536</memory><os><type arch='x86_64' machine='pc'>hvm</type></os><devices>` +
  `<emulator>/usr/bin/qemu-system-x86_64</emulator><disk type='file' device='disk'>` +
  `<source file='${file}'/><target dev='hda'/></disk></devices></domain>`;

describe('QEMU option escaping', () => {
  it('doubles commas in key=value syntax', () => {
    expect(optsValue('a,b')).toBe('a,,b');
    expect(
      opts('x,y', [
        ['guest', 'evil,debug-threads=off'],
        ['n', undefined],
      ]),
    ).toBe('x,,y,guest=evil,,debug-threads=off');
  });

  it('keeps JSON values whole', () => {
    expect(jsonProps({ file: 'a","driver":"x', n: 1, skip: undefined })).toBe(
      '{"file":"a\\",\\"driver\\":\\"x","n":1}',
    );
  });

  it('quotes words as virsh does', () => {
    expect(shellQuote('plain-word,x=1')).toBe('plain-word,x=1');
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('a b')).toBe("'a b'");
  });

  it.each([
    ['comma', 'guest,debug-threads=off'],
    ['equals', 'a=b'],
    ['quote', 'o\'neil"x'],
    ['space', 'two words'],
    ['newline', 'line1\nline2'],
  ])('a name with a %s never becomes a second option', (_what, name) => {
    const cl = domxmlToCommandLine(
      domain(
        name.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;'),
        '/tmp/x.img',
      ),
      referenceContext(),
    );
    const i = cl.args.indexOf('-name');
    expect(cl.args[i + 1]).toBe(`guest=${name.replace(/,/g, ',,')},debug-threads=on`);
    // Splitting on single commas gives back exactly guest=… and debug-threads=on.
    const parts = cl.args[i + 1]!.split(/(?<!,),(?!,)/);
    expect(parts).toHaveLength(2);
    expect(parts[1]).toBe('debug-threads=on');
  });

  it('a hostile disk path stays one JSON string', () => {
    const path = `/tmp/a,b","driver":"nbd'x y.img`;
    const cl = domxmlToCommandLine(
      domain('g', path.replace(/"/g, '&quot;').replace(/'/g, '&apos;')),
      referenceContext(),
    );
    const blockdev = cl.args[cl.args.indexOf('-blockdev') + 1]!;
    expect(JSON.parse(blockdev)).toMatchObject({ driver: 'file', filename: path });
    expect(formatCommandLine(cl)).toContain(
      `'{"driver":"file","filename":"/tmp/a,b\\",\\"driver\\":\\"nbd'\\''x y.img"`,
    );
  });
});
