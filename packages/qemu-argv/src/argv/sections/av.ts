import { add, type Build } from '../build.js';
import { jsonProps } from '../props.js';

export function inputs(_b: Build): void {}

export function audio(b: Build): void {
  for (const a of b.def.devices?.audio ?? []) {
    add(b, '-audiodev', jsonProps({ id: `audio${a.id}`, driver: a.type }));
  }
}

export function graphics(_b: Build): void {}

export function video(_b: Build): void {}

export function sounds(_b: Build): void {}

export function watchdogs(_b: Build): void {}
