/** Reading a corpus laid out like ../shared/conformance. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

export function readText(file: string): string {
  return readFileSync(file, 'utf8');
}

/** Case names in a set folder: files ending in `suffix`, minus those matching `exclude`. */
export function caseNames(
  dir: string,
  suffix: string,
  exclude: (file: string) => boolean = () => false,
): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(suffix) && !exclude(f))
    .map((f) => f.slice(0, -suffix.length))
    .sort();
}

export function setDir(root: string, set: string): string {
  return path.join(root, set);
}
