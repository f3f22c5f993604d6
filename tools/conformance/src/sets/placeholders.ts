/**
 * The corpus replaces values that differ on every run with placeholders (`@UUID@`, `@MAC@`,
 * `@FD@`, …). A placeholder compares equal to any value of its kind.
 */
const KINDS: Record<string, string> = {
  '@UUID@': '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}',
  '@GENID@': '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}',
  '@MAC@': '[0-9a-f]{2}(?::[0-9a-f]{2}){5}',
  '@FD@': '\\d+',
  '@TIMESTAMP@': '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d',
  '@SECRET_DATA@': '[A-Za-z0-9+/=]+',
  '@SECRET_IV@': '[A-Za-z0-9+/=]+',
  '@N@': '\\d+',
};
const PLACEHOLDER = /@(?:UUID|GENID|MAC|FD|TIMESTAMP|SECRET_DATA|SECRET_IV|N)@/g;

export function hasPlaceholder(expected: string): boolean {
  PLACEHOLDER.lastIndex = 0;
  return PLACEHOLDER.test(expected);
}

/** True when `actual` equals `expected` with each placeholder standing for a value of its kind. */
export function matchesWithPlaceholders(expected: string, actual: string): boolean {
  PLACEHOLDER.lastIndex = 0;
  if (!PLACEHOLDER.test(expected)) return expected === actual;
  let pattern = '';
  let last = 0;
  PLACEHOLDER.lastIndex = 0;
  for (let m = PLACEHOLDER.exec(expected); m; m = PLACEHOLDER.exec(expected)) {
    pattern += escapeRegExp(expected.slice(last, m.index)) + KINDS[m[0]]!;
    last = m.index + m[0].length;
  }
  pattern += escapeRegExp(expected.slice(last));
  return new RegExp(`^${pattern}$`, 's').test(actual);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The first line where two texts differ, for reports. */
export function firstDifference(expected: string, actual: string): string {
  const e = expected.split('\n');
  const a = actual.split('\n');
  for (let i = 0; i < Math.max(e.length, a.length); i++) {
    if (e[i] !== a[i] && !matchesWithPlaceholders(e[i] ?? '', a[i] ?? '')) {
      return `line ${i + 1}: expected ${JSON.stringify(e[i] ?? '<end>')}, got ${JSON.stringify(a[i] ?? '<end>')}`;
    }
  }
  return 'texts differ';
}
