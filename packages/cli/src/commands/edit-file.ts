/**
 * virsh's edit loop (virsh-edit.c with vsh.c's vshEditWriteToTempFile / vshEditFile): the XML
 * goes to `$TMPDIR/virshXXXXXX.xml`, `$VISUAL` or `$EDITOR` (default `vi`) edits it — run
 * directly when its name is plain, through `sh -c` otherwise — and the result comes back. Without
 * a terminal on stdin there is no "Try again?" prompt: a failed define is reported as virsh does
 * then ("error: Failed.").
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { VirError } from '@qvirt/core/errors';
import type { Session } from '../command.js';

const ACCEPTED = /^[a-zA-Z0-9\-_./+:@,]*$/;

/** Runs the user's editor on a temporary copy of `doc`; resolves with the edited text. */
export async function editText(session: Session, doc: string): Promise<string> {
  const tmpdir = session.env.TMPDIR ?? '/tmp';
  const dir = await mkdtemp(path.join(tmpdir, 'virsh'));
  const file = path.join(dir, 'edit.xml');
  try {
    await writeFile(file, doc, { mode: 0o600 });
    const editor = session.env.VISUAL ?? session.env.EDITOR ?? 'vi';
    const [cmd, args] = ACCEPTED.test(editor) ? [editor, [file]] : ['sh', ['-c', `${editor} ${file}`]];
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: 'inherit', env: session.env });
      child.on('error', reject);
      child.on('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
    }).catch((err: Error) => {
      throw new VirError('INTERNAL_ERROR', 'none', `internal error: Cannot run ${editor}: ${err.message}`);
    });
    if (code !== 0)
      throw new VirError(
        'INTERNAL_ERROR',
        'none',
        `internal error: Child process (${cmd} ${args.join(' ')}) unexpected exit status ${code}`,
      );
    return await readFile(file, 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The whole loop: `get` the XML, edit it, `notChanged` when nothing changed (returns its result),
 * otherwise `define` the edited text (after checking nobody changed it meanwhile).
 */
export async function editLoop<T>(
  session: Session,
  get: () => Promise<string>,
  notChanged: () => T | undefined,
  define: (doc: string) => Promise<T>,
): Promise<T | undefined> {
  const doc = await get();
  const edited = await editText(session, doc);
  if (edited === doc) {
    const r = notChanged();
    if (r !== undefined) return r;
  }
  if ((await get()) !== doc) {
    session.io.err('error: The XML configuration was changed by another user.\n');
    return undefined;
  }
  try {
    return await define(edited);
  } catch (err) {
    session.io.err('error: Failed.\n');
    throw err;
  }
}
