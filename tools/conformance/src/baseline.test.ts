import { describe, expect, it } from 'vitest';
import {
  type BaselineEntry,
  checkAgainstBaseline,
  formatBaseline,
  oneLineReason,
  parseBaseline,
  parseHostDependent,
  REASON_MAX,
  regenerateBaseline,
} from './baseline.js';
import type { CaseResult } from './set.js';

const pass = (name: string): CaseResult => ({ name, pass: true });
const fail = (name: string, reason = `${name} differs`): CaseResult => ({ name, pass: false, reason });
const known = (set: string, name: string, reason = `${name} differs`): BaselineEntry => ({
  set,
  name,
  reason,
});

describe('checkAgainstBaseline', () => {
  it('accepts failures the baseline lists and passes it does not', () => {
    const report = { xml2xml: [pass('a'), fail('b')], xml2argv: [fail('c')] };
    const out = checkAgainstBaseline(report, [known('xml2xml', 'b'), known('xml2argv', 'c')]);
    expect(out).toEqual({ problems: [], notes: [] });
  });

  it('names a failure the baseline does not list as a regression', () => {
    const out = checkAgainstBaseline({ xml2xml: [fail('a', 'line 3: expected "x", got "y"')] }, []);
    expect(out.problems).toEqual(['regression: xml2xml/a: line 3: expected "x", got "y"']);
  });

  it('wants a listed case that now passes taken out of the baseline', () => {
    const out = checkAgainstBaseline({ xml2xml: [pass('a')] }, [known('xml2xml', 'a')]);
    expect(out.problems).toEqual(['now passes: xml2xml/a: remove it from the baseline']);
  });

  it('wants a listed case the corpus no longer has taken out, in the sets in scope only', () => {
    const baseline = [known('xml2xml', 'gone'), known('argv2xml', 'elsewhere')];
    const out = checkAgainstBaseline({ xml2xml: [] }, baseline, { inScope: (set) => set === 'xml2xml' });
    expect(out.problems).toEqual(['gone: xml2xml/gone is not in the corpus: remove it from the baseline']);
  });

  it('only notes a listed case that fails for another reason', () => {
    const out = checkAgainstBaseline({ xml2xml: [fail('a', 'new reason')] }, [known('xml2xml', 'a', 'old')]);
    expect(out.problems).toEqual([]);
    expect(out.notes).toEqual(['note: xml2xml/a still fails, for another reason: new reason']);
  });

  it('does not gate a host-dependent case where this host differs from the corpus host', () => {
    const hostDependent = parseHostDependent('aa-helper\tpty\t/dev/pts/0\tabsent\n');
    const report = { 'aa-helper': [fail('pty')] };
    const here = checkAgainstBaseline(report, [], { hostDependent, exists: (p) => p === '/dev/pts/0' });
    expect(here.problems).toEqual([]);
    expect(here.notes).toEqual([
      'note: aa-helper/pty fails (not listed), not gated: /dev/pts/0 is present here, absent on the corpus host',
    ]);
    // Where the host agrees with the corpus host, the case is gated like any other.
    const same = checkAgainstBaseline(report, [], { hostDependent, exists: () => false });
    expect(same.problems).toEqual(['regression: aa-helper/pty: pty differs']);
  });
});

describe('the baseline file', () => {
  it('keeps each reason on one line, without tabs, truncated', () => {
    expect(oneLineReason('a\tb\n  c')).toBe('a b c');
    const long = oneLineReason('x'.repeat(500));
    expect(long).toHaveLength(REASON_MAX);
    expect(long.endsWith('…')).toBe(true);
  });

  it('reads what it writes, sorted by set and case', () => {
    const entries = [known('xml2xml', 'b', 'two\twords'), known('argv2xml', 'z'), known('xml2xml', 'a')];
    const text = formatBaseline(entries);
    expect(text.split('\n').filter((l) => !l.startsWith('#') && l !== '')).toEqual([
      'argv2xml\tz\tz differs',
      'xml2xml\ta\ta differs',
      'xml2xml\tb\ttwo words',
    ]);
    expect(parseBaseline(text)).toEqual([
      known('argv2xml', 'z'),
      known('xml2xml', 'a'),
      known('xml2xml', 'b', 'two words'),
    ]);
  });

  it('refuses a malformed row or a case listed twice, in one line', () => {
    expect(() => parseBaseline('xml2xml\n', 'b.tsv')).toThrow('b.tsv:1: expected 3 tab-separated fields');
    expect(() => parseBaseline('s\ta\tx\ns\ta\ty\n', 'b.tsv')).toThrow('b.tsv: s/a is listed twice');
    expect(() => parseHostDependent('s\ta\t/p\tmaybe\n', 'h.tsv')).toThrow(
      "h.tsv: s/a: the corpus host's state must be present or absent",
    );
  });

  it('regenerates the sets that ran and keeps the others', () => {
    const previous = [known('xml2xml', 'fixed'), known('argv2xml', 'other')];
    const report = { xml2xml: [pass('fixed'), fail('new')] };
    expect(regenerateBaseline(previous, report)).toEqual([
      known('argv2xml', 'other'),
      known('xml2xml', 'new'),
    ]);
  });
});
