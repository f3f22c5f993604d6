#!/usr/bin/env node
import { client, main } from '../dist/hostile.js';

const argv = process.argv.slice(2);
(argv[0] === '--client' ? client(argv[1], argv[2], Number(argv[3])) : main(argv)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  },
);
