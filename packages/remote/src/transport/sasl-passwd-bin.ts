#!/usr/bin/env node
/** The `qvirt-saslpasswd` command: see sasl-passwd.ts. */
import { saslPasswdMain } from './sasl-passwd.js';

saslPasswdMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`qvirt-saslpasswd: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
