/**
 * `selinux-labels` on the shared corpus (every public case passes) and on a case that fails, so
 * the set reports what differs. Labels are real security.selinux xattrs on temp files.
 */
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { selinuxLabelsSet } from './selinux-labels.js';

const shared = path.resolve(import.meta.dirname, '../../../../../shared/conformance');
const temps: string[] = [];
afterEach(() => {
  for (const t of temps.splice(0)) rmSync(t, { recursive: true, force: true });
});

it.skipIf(!existsSync(path.join(shared, 'selinux-labels')))('passes every public case', async () => {
  expect(selinuxLabelsSet.applies(shared)).toBe(true);
  const results = await selinuxLabelsSet.run(shared);
  expect(results.length).toBeGreaterThan(0);
  expect(results.filter((r) => !r.pass)).toEqual([]);
});

it.skipIf(!existsSync(path.join(shared, 'selinux-labels')))(
  'names the file whose label differs',
  async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'qvirt-selinux-set-'));
    temps.push(root);
    const dir = path.join(root, 'selinux-labels');
    cpSync(path.join(shared, 'selinux-labels'), dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'kernel.txt'),
      '/vmlinuz.raw;system_u:object_r:wrong_t:s0\n/initrd.raw;system_u:object_r:virt_content_t:s0\n',
    );
    const results = await selinuxLabelsSet.run(root);
    expect(results.find((r) => r.name === 'kernel')).toEqual({
      name: 'kernel',
      pass: false,
      reason: '/vmlinuz.raw: got system_u:object_r:virt_content_t:s0, want system_u:object_r:wrong_t:s0',
      family: 'label',
    });
  },
);
