/** A QEMU command line as libvirt's qemu-argv format shows it: environment, binary, arguments. */
export interface CommandLine {
  env: Array<[string, string]>;
  binary: string;
  args: string[];
}

/**
 * virsh's quoting (virBufferEscapeShell): a word is printed as it is unless it holds a shell
 * metacharacter, then it is single-quoted with `'` written as `'\''`.
 */
export function shellQuote(word: string): string {
  if (word === '') return "''";
  if (!/[\r\t\n !"#$&'()*;<>?[\\\]^`{|}~]/.test(word)) return word;
  return `'${word.replace(/'/g, "'\\''")}'`;
}

/** The single line `virsh domxml-to-native qemu-argv` prints (without its trailing newline). */
export function formatCommandLine(cl: CommandLine): string {
  const env = cl.env.map(([k, v]) => `${k}=${shellQuote(v)}`);
  return [...env, shellQuote(cl.binary), ...cl.args.map(shellQuote)].join(' ');
}

/** The argv words of that line, as a shell would split it (env assignments first). */
export function commandLineWords(cl: CommandLine): string[] {
  return [...cl.env.map(([k, v]) => `${k}=${v}`), cl.binary, ...cl.args];
}
