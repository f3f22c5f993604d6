import type { Build } from '../build.js';

/** `<filesystem>`: -fsdev/-device virtio-9p, vhost-user-fs (virtiofs). */
export function filesystems(_b: Build): void {}
