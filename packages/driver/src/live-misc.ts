/**
 * Small live APIs of libvirt 9.0's QEMU driver (qemu_driver.c), each one QMP command:
 * qemuDomainSendKey (`send-key` with QNUM numbers), qemuDomainScreenshot (`screendump` to a
 * file in the domain's private directory, sent back on a stream), qemuDomainInjectNMI
 * (`inject-nmi`) and qemuDomainGetDiskErrors (`query-block`'s io-status).
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { type DomainDef, virCheckFlags, virReportError, virReportSystemError } from '@qvirt/core';
import {
  type StreamChunk,
  VIR_DOMAIN_AFFECT,
  VIR_KEYCODE_SET_NAMES,
  VIR_KEYCODE_SET_QNUM,
  type VirStream,
  virKeycodeValueTranslate,
} from '@qvirt/core/hypervisor';
import { affectedDefs, copyDef, type LiveDomain, operationInvalid } from './live-domain.js';

const notRunning = () => operationInvalid('domain is not running');

/** qemuDomainSendKey: the codes translated to QNUM, then QMP `send-key` with numbers. */
export async function sendKey(
  dom: LiveDomain,
  codeset: number,
  holdtime: number,
  keycodes: number[],
  flags: number,
): Promise<void> {
  virCheckFlags(flags, 0, 'qemuDomainSendKey');
  const codes =
    codeset === VIR_KEYCODE_SET_QNUM
      ? keycodes
      : keycodes.map((k) => {
          const q = virKeycodeValueTranslate(codeset, VIR_KEYCODE_SET_QNUM, k);
          if (q < 0)
            throw virReportError(
              'INTERNAL_ERROR',
              'qemu',
              `cannot translate keycode ${k} of ${VIR_KEYCODE_SET_NAMES[codeset] ?? ''} codeset to qnum keycode`,
            );
          return q;
        });
  if (!dom.active) throw notRunning();
  // qemuMonitorJSONSendKey
  codes.forEach((k, i) => {
    if (k > 0xffff)
      throw virReportError(
        'OPERATION_FAILED',
        'qemu',
        `keycode ${i} is invalid: 0x${k.toString(16).toUpperCase()}`,
      );
  });
  const mon = await dom.monitor();
  await mon.execute('send-key', {
    keys: codes.map((k) => ({ type: 'number', data: k })),
    ...(holdtime ? { 'hold-time': holdtime } : {}),
  });
}

/** qemuDomainInjectNMI. */
export async function injectNMI(dom: LiveDomain, flags: number): Promise<void> {
  virCheckFlags(flags, 0, 'qemuDomainInjectNMI');
  if (!dom.active) throw notRunning();
  await (await dom.monitor()).execute('inject-nmi');
}

/** A stream that hands out one buffer, as virFDStreamOpenFile of a file read to its end. */
function bufferStream(data: Buffer): VirStream {
  const CHUNK = 256 * 1024;
  let pos = 0;
  const notWritable = () => virReportError('OPERATION_INVALID', 'qemu', 'stream is not open for writing');
  return {
    async send() {
      throw notWritable();
    },
    async sendHole() {
      throw notWritable();
    },
    async recv(): Promise<StreamChunk | null> {
      if (pos >= data.length) return null;
      const chunk = data.subarray(pos, pos + CHUNK);
      pos += chunk.length;
      return { data: chunk };
    },
    async finish() {
      pos = data.length;
    },
    async abort() {
      pos = data.length;
    },
  };
}

interface VideoDef {
  model?: { heads?: number };
  alias?: { name?: string };
}

/** What the screenshot needs of the driver: the private directory and the security labels. */
export interface ScreenshotHost {
  libDir: string | undefined;
  setPathLabel(def: DomainDef, p: string): Promise<void>;
  restorePathLabel(def: DomainDef, p: string): Promise<void>;
}

/**
 * qemuDomainScreenshot: QEMU writes a PNG (QEMU 7.2 has screendump's `format`) to a file in the
 * domain's private directory, labelled for it; the file is read, removed, and its bytes go back
 * on the stream. Answers the stream and the MIME type.
 */
export async function screenshot(
  dom: LiveDomain,
  host: ScreenshotHost,
  screen: number,
  flags: number,
): Promise<{ stream: VirStream; mime: string }> {
  virCheckFlags(flags, 0, 'qemuDomainScreenshot');
  if (!dom.active || !dom.live) throw notRunning();
  const def = dom.live;
  const videos = ((def.devices as { video?: VideoDef[] } | undefined)?.video ?? []).filter(
    (v) => (v.model as { type?: string } | undefined)?.type !== 'none',
  );
  if (videos.length === 0) throw operationInvalid('no screens to take screenshot from');
  let device: string | undefined;
  let head = screen;
  if (screen) {
    let i = 0;
    for (; i < videos.length; i++) {
      const heads = Number(videos[i]!.model?.heads ?? 1);
      if (head < heads) {
        device = videos[i]!.alias?.name;
        break;
      }
      head -= heads;
    }
    if (i === videos.length) throw operationInvalid('no such screen ID');
  }
  if (!host.libDir) throw notRunning();
  // g_mkstemp_full: a new file only QEMU (once labelled) and we may write
  const file = path.join(host.libDir, `qemu.screendump.${randomBytes(3).toString('hex')}`);
  try {
    await (await open(file, 'wx', 0o600)).close();
  } catch (err) {
    throw virReportSystemError(err, 'qemu', `g_mkstemp("${file}") failed`);
  }
  try {
    await host.setPathLabel(def, file);
    await (await dom.monitor()).execute('screendump', {
      filename: file,
      format: 'png',
      ...(device ? { device, head } : {}),
    });
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (err) {
      throw virReportSystemError(err, 'qemu', `unable to open ${file}`);
    }
    return { stream: bufferStream(data), mime: 'image/png' };
  } finally {
    // the label goes first (AppArmor would otherwise keep the path in the profile)
    await host.restorePathLabel(def, file).catch(() => {});
    await rm(file, { force: true });
  }
}

/** virDomainDiskErrorCode. */
const IO_STATUS: Record<string, number> = { ok: 0, failed: 1, nospace: 2 };

interface QmpBlockInfo {
  device?: string;
  qdev?: string;
  'io-status'?: string;
}

/**
 * qemuDomainGetDiskErrors: with `maxerrors` 0 how many disks there are; otherwise the disks whose
 * I/O status is not "ok", at most `maxerrors`.
 */
export async function getDiskErrors(
  dom: LiveDomain,
  maxerrors: number,
  flags: number,
): Promise<{ errors: Array<{ disk: string; error: number }>; nerrors: number }> {
  virCheckFlags(flags, 0, 'qemuDomainGetDiskErrors');
  if (!dom.active || !dom.live) throw notRunning();
  const disks =
    (dom.live.devices as { disk?: Array<{ target?: { dev?: string }; alias?: { name?: string } }> })?.disk ??
    [];
  if (maxerrors === 0) return { errors: [], nerrors: disks.length };
  const table = await (await dom.monitor()).execute<QmpBlockInfo[]>('query-block');
  const errors: Array<{ disk: string; error: number }> = [];
  for (const disk of disks) {
    const alias = disk.alias?.name;
    if (!alias) continue;
    // -blockdev disks are known by their device's QOM path, -drive ones by drive-ALIAS
    const info = table.find(
      (b) =>
        b.device === `drive-${alias}` ||
        b.device === alias ||
        b.qdev === alias ||
        b.qdev?.startsWith(`/machine/peripheral/${alias}/`),
    );
    const status = IO_STATUS[info?.['io-status'] ?? 'ok'] ?? 1;
    if (info && status !== 0) {
      if (errors.length === maxerrors) break;
      errors.push({ disk: disk.target?.dev ?? '', error: status });
    }
  }
  return { errors, nerrors: errors.length };
}

/** virDomainLifecycle and virDomainLifecycleAction, in libvirt's numbers. */
const LIFECYCLE_TYPES = ['poweroff', 'reboot', 'crash'] as const;
const LIFECYCLE_ACTIONS = [
  'destroy',
  'restart',
  'rename-restart',
  'preserve',
  'coredump-destroy',
  'coredump-restart',
] as const;
const DEFAULT_ACTION = { poweroff: 'destroy', reboot: 'restart', crash: 'destroy' } as const;

type Lifecycle = { on_poweroff?: string; on_reboot?: string; on_crash?: string };
const actionOf = (def: DomainDef, type: (typeof LIFECYCLE_TYPES)[number]): string =>
  (def as Lifecycle)[`on_${type}`] ?? DEFAULT_ACTION[type];

/** qemuDomainSetLifecycleActionValidate (qemuValidateLifecycleAction on the result). */
function validateLifecycle(def: DomainDef, type: (typeof LIFECYCLE_TYPES)[number], action: string): void {
  const after = (t: (typeof LIFECYCLE_TYPES)[number]) => (t === type ? action : actionOf(def, t));
  const unsupported = (msg: string) => virReportError('CONFIG_UNSUPPORTED', 'qemu', msg);
  if (LIFECYCLE_TYPES.some((t) => after(t) === 'rename-restart'))
    throw unsupported(
      "qemu driver doesn't support the 'rename-restart' action for 'on_reboot'/'on_poweroff'/'on_crash'",
    );
  if (after('poweroff') === 'preserve' || after('reboot') === 'preserve')
    throw unsupported("qemu driver doesn't support the 'preserve' action for 'on_reboot'/'on_poweroff'");
  if (after('poweroff') === 'restart' && after('reboot') === 'destroy')
    throw unsupported(
      "qemu driver doesn't support 'onReboot' set to 'destroy and 'onPoweroff' set to 'reboot'",
    );
}

/**
 * virDomainSetLifecycleAction / qemuDomainSetLifecycleAction: `<on_poweroff>`, `<on_reboot>` or
 * `<on_crash>`; a running domain's reboot action also goes to QEMU (`set-action`).
 */
export async function setLifecycleAction(
  dom: LiveDomain,
  typeNum: number,
  actionNum: number,
  flags: number,
): Promise<void> {
  // the public API's range checks
  const type = LIFECYCLE_TYPES[typeNum];
  if (type === undefined)
    throw virReportError('INVALID_ARG', 'domain', `invalid lifecycle type '${typeNum}'`);
  const action = LIFECYCLE_ACTIONS[actionNum];
  if (action === undefined)
    throw virReportError('INVALID_ARG', 'domain', `invalid lifecycle action '${actionNum}'`);
  virCheckFlags(flags, VIR_DOMAIN_AFFECT.LIVE | VIR_DOMAIN_AFFECT.CONFIG, 'qemuDomainSetLifecycleAction');
  // virDomainDefLifecycleActionAllowed
  if (type !== 'crash' && action.startsWith('coredump-'))
    throw virReportError(
      'CONFIG_UNSUPPORTED',
      'domain',
      `Lifecycle event '${type}' doesn't support '${action}' action`,
    );
  const defs = affectedDefs(dom, flags);
  if (defs.live) validateLifecycle(defs.live, type, action);
  if (defs.config) validateLifecycle(defs.config, type, action);
  if (defs.live) {
    // qemuDomainModifyLifecycleActionLive: only the reboot action is QEMU's to change
    if (
      type === 'reboot' &&
      actionOf(defs.live, 'reboot') !== action &&
      (action === 'destroy' || action === 'restart')
    ) {
      await (await dom.monitor()).execute('set-action', {
        reboot: action === 'destroy' ? 'shutdown' : 'reset',
      });
    }
    const live = copyDef(defs.live);
    (live as Lifecycle)[`on_${type}`] = action;
    await dom.saveLive(live);
  }
  if (defs.config) {
    const config = copyDef(defs.config);
    (config as Lifecycle)[`on_${type}`] = action;
    await dom.saveConfig(config);
  }
}
