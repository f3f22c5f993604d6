#!/usr/bin/env node
// The bundled qvirsh (tools/bundle: a few files instead of hundreds of modules) when the build
// made it, else the module graph under dist/.
import { existsSync } from 'node:fs';

const bundled = new URL('../dist/bundle/index.js', import.meta.url);
const { main } = await import(existsSync(bundled) ? bundled.href : '../dist/index.js');
process.exitCode = await main(process.argv.slice(2));
