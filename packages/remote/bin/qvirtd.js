#!/usr/bin/env node
// The bundled qvirtd (tools/bundle: a few files instead of hundreds of modules) when the build
// made it, else the module graph under dist/. Either runs the daemon's command line on load.
import { existsSync } from 'node:fs';

const bundled = new URL('../dist/bundle/bin.js', import.meta.url);
await import(existsSync(bundled) ? bundled.href : '../dist/daemon/bin.js');
