#!/usr/bin/env node
/** The `qvirt-ssh-helper` command: see ssh-helper.ts. */
import { helperMain } from './ssh-helper.js';

helperMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`qvirt-ssh-helper: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
