/**
 * The host's boot time as libvirt stamps remembered labels with it (virHostGetBootTime), shared by
 * every backend that remembers owners in `trusted.libvirt.security.*` xattrs (dac, selinux), so
 * they agree with each other and with libvirt on the same host.
 */
import { VirError, virReportError } from '../errors.js';
import type { HostPort } from './host.js';

/** Seconds of the BOOT_TIME record (type 2) in `utmpdump` output, or undefined. */
export function utmpdumpBootTime(text: string): number | undefined {
  for (const line of text.split('\n')) {
    const fields = [...line.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]!.trim());
    if (fields[0] !== '2') continue;
    const when = Date.parse((fields.at(-1) ?? '').replace(',', '.'));
    if (Number.isFinite(when) && when > 0) return Math.floor(when / 1000);
  }
  return undefined;
}

/**
 * virHostGetBootTime: computed once per process like libvirt's virOnce, so every path labelled by
 * one qvirt process carries the same value.
 */
export function bootTimeSource(host: Pick<HostPort, 'readFile' | 'exec'>, now: () => number = Date.now) {
  let cached: Promise<string> | undefined;
  return (): Promise<string> => {
    cached ??= (async () => {
      try {
        // getutxid(BOOT_TIME) reads the binary utmp file; util-linux's utmpdump prints it as text.
        const dump = await host.exec('utmpdump', ['/var/run/utmp']);
        const sec = dump.code === 0 ? utmpdumpBootTime(dump.stdout) : undefined;
        if (sec !== undefined) return String(sec);
      } catch {
        // No utmpdump: as with no utmp, libvirt falls back to /proc/uptime.
      }
      // The kernel's own boot time is stable; libvirt's uptime arithmetic can differ by a second
      // between two reads, which would make a remembered owner look stale.
      try {
        const btime = /^btime (\d+)$/m.exec(await host.readFile('/proc/stat'))?.[1];
        if (btime !== undefined) return btime;
      } catch {
        // no /proc/stat (a fake host): use the uptime below
      }
      let uptime: string;
      try {
        uptime = await host.readFile('/proc/uptime');
      } catch (err) {
        cached = undefined;
        throw new VirError(
          'SYSTEM_ERROR',
          'security',
          `Unable to get host boot time: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      const first = uptime.split(' ')[0] ?? '';
      const up = Number(first);
      if (!first || !Number.isFinite(up)) {
        cached = undefined;
        throw virReportError('INTERNAL_ERROR', 'security', `Unable to parse uptime value '${first}'`);
      }
      return String(Math.round(Math.floor(now() / 1000) - up));
    })();
    return cached;
  };
}
