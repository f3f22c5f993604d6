import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileAccessibleAs, groupList, kvmAccess } from './kvm-access.js';

const root = process.geteuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), 'qvirt-kvm-access-'));
chmodSync(dir, 0o711);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A user of this host other than root whose passwd primary group is not a group named after it. */
function someUser(): { name: string; uid: number; gid: number } {
  const rows = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((l) => l.split(':'))
    .filter((r) => r.length >= 4 && Number(r[2]) > 0);
  const pick = rows.find((r) => r[0] === 'libvirt-qemu') ?? rows.find((r) => r[0] === 'nobody') ?? rows[0]!;
  return { name: pick[0]!, uid: Number(pick[2]), gid: Number(pick[3]) };
}

function device(name: string, gid: number, mode: number): string {
  const p = join(dir, name);
  writeFileSync(p, '');
  chownSync(p, 0, gid);
  chmodSync(p, mode);
  return p;
}

describe.skipIf(!root)('KVM access as libvirt decides it', () => {
  const user = someUser();
  // a group the user is not in: the configured qemu.conf group differs from the passwd one
  const otherGid = 65_000 + (user.gid % 500) + 1;

  it("counts the user's passwd primary group, not only the configured group", () => {
    const dev = device('kvm-primary', user.gid, 0o660);
    expect(groupList(user.uid, otherGid)).toEqual(expect.arrayContaining([user.gid, otherGid]));
    expect(kvmAccess({ device: dev, uid: user.uid, gid: otherGid })).toMatchObject({ usable: true });
  });

  it('answers the same for a numeric +UID user', () => {
    const dev = device('kvm-numeric', user.gid, 0o660);
    expect(fileAccessibleAs(dev, { uid: Number(`+${user.uid}`.slice(1)), gid: otherGid })).toBe(true);
  });

  it('refuses a device of a group the user is not in, and one only its owner may open', () => {
    const foreign = device('kvm-foreign', otherGid + 1, 0o660);
    expect(kvmAccess({ device: foreign, uid: user.uid, gid: otherGid })).toMatchObject({
      usable: false,
      reason: `${foreign} is not read-write for ${user.uid}:${otherGid}`,
    });
    const ownerOnly = device('kvm-owner', user.gid, 0o600);
    expect(kvmAccess({ device: ownerOnly, uid: user.uid, gid: otherGid }).usable).toBe(false);
  });

  it('is not usable when the device is missing', () => {
    expect(kvmAccess({ device: join(dir, 'none'), uid: user.uid, gid: user.gid })).toEqual({
      usable: false,
      reason: `${join(dir, 'none')} does not exist`,
    });
  });
});

describe('KVM access as ourselves', () => {
  it('uses access(2) with our own ids', () => {
    const p = join(dir, 'mine');
    writeFileSync(p, '');
    chmodSync(p, 0o600);
    const ids = { uid: process.geteuid!(), gid: process.getegid!() };
    expect(kvmAccess({ ...ids, device: p }).usable).toBe(true);
  });
});
