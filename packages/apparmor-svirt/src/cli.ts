/**
 * `virt-aa-helper`: libvirt 9.0's helper of the same name, flag for flag. Modes `-a` (load),
 * `-c` (create from TEMPLATE and load), `-D` (unload and delete the rules), `-r` (regenerate and
 * reload), `-R` (unload); `-d` dry run, `-u libvirt-<uuid>`, `-f`/`-F FILE` (add / append a
 * file), `-h`; `-p`, `-H`, `-b` are parsed and refused. The domain XML comes on stdin (`-c`,
 * `-r`). Exit status 0 or 1; messages on stderr as `virt-aa-helper: error: …`.
 *
 * `runHelper` is the whole program over an injectable `HelperIo`; bin/virt-aa-helper.js binds
 * it to the process.
 */
import { readDefinition } from './definition.js';
import { getoptLong, type LongOption } from './getopt.js';
import type { HelperMessage } from './path-policy.js';
import {
  filesContent,
  includeLine,
  MAX_FILE_LEN,
  profileFromTemplate,
  SYSTEM_APPARMOR_DIR,
  TemplateError,
  validProfileName,
} from './profile.js';
import { generateRules, type RulesFs } from './rules.js';

export const PROGNAME = 'virt-aa-helper';
/** libvirt runs the parser by absolute path with PATH=/sbin:/usr/sbin. */
export const APPARMOR_PARSER = '/sbin/apparmor_parser';

export interface HelperFs extends RulesFs {
  /** The file's text, or undefined when it does not exist. */
  readFileIfExists(path: string): Promise<string | undefined>;
  size(path: string): Promise<number>;
  /** `exclusive`: O_EXCL (fails when the file exists). */
  writeFile(path: string, data: string, exclusive: boolean): Promise<void>;
  /** Removing an absent file is not an error. */
  unlink(path: string): Promise<void>;
}

export interface HelperIo {
  /** The arguments after the program name. */
  args: readonly string[];
  /** argv[0], for getopt's messages. */
  argv0: string;
  /** stdin, at most `limit + 1` bytes; undefined when it cannot be read. */
  readStdin(limit: number): Promise<string | undefined>;
  stdout(text: string): void;
  stderr(text: string): void;
  fs: HelperFs;
  /** `apparmor_parser FLAG PROFILE`: its exit status, or undefined when it could not run. */
  runParser(flag: '-a' | '-r' | '-R', profile: string): Promise<number | undefined>;
  /** Where profiles live (default /etc/apparmor.d/libvirt). */
  apparmorDir?: string;
}

export const USAGE = `
${PROGNAME} mode [options] [extra file] [< def.xml]

  Modes:
    -a | --add                     load profile
    -c | --create                  create profile from template
    -D | --delete                  unload profile and delete generated rules
    -r | --replace                 reload profile
    -R | --remove                  unload profile
  Options:
    -d | --dryrun                  dry run
    -u | --uuid <uuid>             uuid (profile name)
    -h | --help                    this help
  Extra File:
    -f | --add-file <file>         add file to a profile generated from XML
    -F | --append-file <file>      append file to an existing profile

This command is intended to be used by libvirtd and not used directly.

`;

// libvirt declares --add-file and --append-file without an argument; kept as it is.
const LONG_OPTIONS: LongOption[] = [
  { name: 'add', hasArg: false, val: 'a' },
  { name: 'create', hasArg: false, val: 'c' },
  { name: 'dryrun', hasArg: false, val: 'd' },
  { name: 'delete', hasArg: false, val: 'D' },
  { name: 'add-file', hasArg: false, val: 'f' },
  { name: 'append-file', hasArg: false, val: 'F' },
  { name: 'help', hasArg: false, val: 'h' },
  { name: 'replace', hasArg: false, val: 'r' },
  { name: 'remove', hasArg: false, val: 'R' },
  { name: 'uuid', hasArg: true, val: 'u' },
];
const SHORT_OPTIONS = 'acdDhrRH:b:u:p:f:F:';

class Exit {
  constructor(readonly code: number) {}
}

export interface HelperCommand {
  cmd: '' | 'a' | 'c' | 'D' | 'r' | 'R';
  dryrun: boolean;
  uuid: string;
  newFile?: string;
  append: boolean;
}

/** Runs virt-aa-helper; resolves to its exit status. */
export async function runHelper(io: HelperIo): Promise<number> {
  const dir = io.apparmorDir ?? SYSTEM_APPARMOR_DIR;
  const say = (level: string, text: string) => io.stderr(`${PROGNAME}: ${level}: ${text}\n`);
  const error = (text: string) => say('error', text);
  const die = (text: string): never => {
    error(text);
    throw new Exit(1);
  };
  const info = (text: string) => io.stderr(`${PROGNAME}:\n${text}\n`);
  const flush = (messages: HelperMessage[]) => {
    for (const m of messages) say(m.level, m.text);
  };

  const parser = async (flag: '-a' | '-r' | '-R', name: string): Promise<boolean> => {
    const profile = `${dir}/${name}`;
    if (!(await io.fs.exists(profile))) {
      error('profile does not exist');
      return false;
    }
    const status = await io.runParser(flag, profile);
    if (status === undefined) {
      error('failed to run apparmor_parser');
      return false;
    }
    if (status !== 0) {
      if (flag === '-R' && status === 234) say('warning', 'unable to unload already unloaded profile');
      else {
        error('apparmor_parser exited with error');
        return false;
      }
    }
    return true;
  };

  try {
    // vahParseArgv()
    const ctl: HelperCommand = { cmd: '', dryrun: false, uuid: '', append: false };
    for (const item of getoptLong(io.args, SHORT_OPTIONS, LONG_OPTIONS, io.argv0)) {
      switch (item.opt) {
        case 'a':
        case 'c':
        case 'D':
        case 'r':
        case 'R':
          ctl.cmd = item.opt;
          break;
        case 'd':
          ctl.dryrun = true;
          break;
        case 'f':
        case 'F':
          if ('arg' in item && item.arg !== undefined) ctl.newFile = item.arg;
          else delete ctl.newFile;
          ctl.append = item.opt === 'F';
          break;
        case 'h':
          io.stdout(USAGE);
          return 0;
        case 'u': {
          const arg = 'arg' in item ? (item.arg ?? '') : '';
          if (arg.length > 44) die('invalid UUID');
          ctl.uuid = arg;
          break;
        }
        default:
          if ('error' in item) io.stderr(`${item.error}\n`);
          die('unsupported option');
      }
    }
    if (!validProfileName(ctl.uuid)) die('invalid UUID');
    if (ctl.cmd === '') {
      io.stdout(USAGE);
      return 1;
    }

    let rules = '';
    let def: import('@qvirt/core').DomainDef | undefined;
    if (ctl.cmd === 'c' || ctl.cmd === 'r') {
      const xml = await io.readStdin(MAX_FILE_LEN);
      if (xml === undefined || Buffer.byteLength(xml) > MAX_FILE_LEN) die('could not read xml file');
      const parsed = readDefinition(xml!);
      flush(parsed.messages);
      if (!parsed.ok) die('could not get VM definition');
      def = (parsed as { def: import('@qvirt/core').DomainDef }).def;
      const generated = await generateRules(
        def,
        {
          profileName: ctl.uuid,
          ...(ctl.newFile !== undefined ? { newFile: ctl.newFile } : {}),
          append: ctl.append,
        },
        io.fs,
      );
      flush(generated.messages);
      if (!generated.ok) {
        if (generated.failedAt === 'append') return 1;
        die('invalid VM definition');
      }
      rules = generated.rules;
    }

    // main()
    const profile = `${dir}/${ctl.uuid}`;
    const includeFile = `${dir}/${ctl.uuid}.files`;
    if (ctl.cmd === 'a') return (await parser('-a', ctl.uuid)) ? 0 : 1;
    if (ctl.cmd === 'R' || ctl.cmd === 'D') {
      const ok = await parser('-R', ctl.uuid);
      if (ctl.cmd === 'D') await io.fs.unlink(includeFile);
      return ok ? 0 : 1;
    }

    // -c / -r
    if (ctl.cmd === 'c' && (await io.fs.exists(profile))) die('profile exists');
    let purged = false;
    if ((await io.fs.exists(profile)) && (await io.fs.size(profile)) === 0) {
      say('warning', 'Profile of 0 size detected, will attempt to remove it');
      if (!(await parser('-R', ctl.uuid))) die('could not remove profile');
      await io.fs.unlink(profile);
      purged = true;
    }
    const virtType = def!.type;
    const lxc = virtType === 'lxc';
    let ok = true;
    if (ctl.dryrun) {
      info(includeFile);
      info(rules);
    } else if (!lxc) {
      const existing = await io.fs.readFileIfExists(includeFile);
      const content = filesContent(rules, existing, ctl.append);
      if (Buffer.byteLength(content) > MAX_FILE_LEN) {
        error('invalid length for new profile');
        return 1;
      }
      if (content !== existing) {
        try {
          await io.fs.writeFile(includeFile, content, false);
        } catch {
          error('failed to create include file');
          return 1;
        }
      }
    }
    if (ctl.cmd === 'c' || purged) {
      const include = includeLine(dir, ctl.uuid);
      if (ctl.dryrun) {
        info(profile);
        info(ctl.uuid);
        info(include);
      } else if (!(await createProfile(io.fs, dir, profile, ctl.uuid, include, virtType, error))) {
        error('could not create profile');
        await io.fs.unlink(includeFile);
        ok = false;
      }
    }
    if (ok && !ctl.dryrun) {
      ok = await parser(ctl.cmd === 'c' ? '-a' : '-r', ctl.uuid);
      if (!ok) {
        await io.fs.unlink(includeFile);
        if (ctl.cmd === 'c') await io.fs.unlink(profile);
      }
    }
    return ok ? 0 : 1;
  } catch (e) {
    if (e instanceof Exit) return e.code;
    throw e;
  }
}

async function createProfile(
  fs: HelperFs,
  dir: string,
  profile: string,
  name: string,
  include: string,
  virtType: string,
  error: (text: string) => void,
): Promise<boolean> {
  if (await fs.exists(profile)) {
    error('profile exists');
    return false;
  }
  const lxc = virtType === 'lxc';
  const driver = virtType === 'qemu' || virtType === 'kqemu' || virtType === 'kvm' ? 'qemu' : virtType;
  const template = `${dir}/TEMPLATE.${driver}`;
  const text = await fs.readFileIfExists(template);
  if (text === undefined) {
    error('template does not exist');
    return false;
  }
  let content: string;
  try {
    content = profileFromTemplate(text, name, include, lxc);
  } catch (e) {
    if (e instanceof TemplateError) {
      error(e.message);
      return false;
    }
    throw e;
  }
  try {
    await fs.writeFile(profile, content, true);
  } catch {
    error('failed to create profile');
    return false;
  }
  return true;
}
