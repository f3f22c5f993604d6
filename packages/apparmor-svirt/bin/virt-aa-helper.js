#!/usr/bin/env node
// virt-aa-helper: libvirt's AppArmor profile helper (see @qvirt/apparmor-svirt's README).
import { main } from '../dist/node-io.js';

process.exitCode = await main(process.argv);
