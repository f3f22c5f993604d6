import { readFileSync } from 'node:fs';

/** The CLI's own version, read from its package.json so a release bump needs no code change. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
