/**
 * What an unprivileged uid can do to the system instance, for the access test (run under
 * `setpriv --reuid=65534`). Prints one JSON line.
 *
 * - `node access-child.js connect SOCKET`: connects over the socket and lists the domains.
 * - `node access-child.js session SYSTEM_ROOT XML`: opens its own `qemu:///session` (the XDG
 *   directories come from the environment), lists and defines domains there, then tries to read
 *   every file of the system instance's state directories and to write into them.
 */
import { readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { QemuDriver } from '@qvirt/driver';
import { RemoteClient } from '@qvirt/remote';

const [mode, a, b] = process.argv.slice(2) as [string, string, string];
const errText = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

if (mode === 'connect') {
  try {
    const c = await RemoteClient.open(`qemu+unix:///system?socket=${a}`, { keepalive: false });
    const names = (await c.connectListAllDomains(0)).map((d) => d.name);
    await c.connectClose();
    console.log(JSON.stringify({ names }));
  } catch (err) {
    console.log(JSON.stringify({ error: (err as Error).message }));
  }
} else if (mode === 'session') {
  const driver = await QemuDriver.open('qemu:///session');
  const seenBefore = driver.listDomains().map((d) => d.name);
  const defined = await driver.defineXML(readFileSync(b, 'utf8'));
  const seenAfter = driver.listDomains().map((d) => d.name);
  const sessionConfig = path.join(driver.layout.configDir, `${defined.name}.xml`);
  await driver.close();
  // every file under the system instance's state directories: read, overwrite, remove
  const reads: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = path.join(dir, e);
      let st: ReturnType<typeof statSync>;
      try {
        st = statSync(p);
      } catch (err) {
        reads[p] = `stat ${errText(err)}`;
        continue;
      }
      if (st.isDirectory()) {
        try {
          walk(p);
        } catch (err) {
          reads[p] = `readdir ${errText(err)}`;
        }
        continue;
      }
      if (!st.isFile()) continue;
      const out: string[] = [];
      try {
        readFileSync(p);
        out.push('read ok');
      } catch (err) {
        out.push(`read ${errText(err)}`);
      }
      try {
        writeFileSync(p, 'x', { flag: 'r+' });
        out.push('write ok');
      } catch (err) {
        out.push(`write ${errText(err)}`);
      }
      try {
        unlinkSync(p);
        out.push('unlink ok');
      } catch (err) {
        out.push(`unlink ${errText(err)}`);
      }
      reads[p] = out.join(', ');
    }
  };
  const creates: Record<string, string> = {};
  for (const d of ['etc/qemu', 'run/qemu', 'lib/qemu', 'log/qemu', 'cache/qemu']) {
    const dir = path.join(a, d);
    walk(dir);
    try {
      writeFileSync(path.join(dir, 'intruder.xml'), '<domain/>', { flag: 'wx' });
      creates[dir] = 'ok';
    } catch (err) {
      creates[dir] = errText(err);
    }
  }
  console.log(JSON.stringify({ seenBefore, seenAfter, sessionConfig, reads, creates }));
}
