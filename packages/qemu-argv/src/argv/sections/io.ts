import type { Build } from '../build.js';

/** `<interface>`: -netdev and -device (domxml-to-native: every interface as a tap ethernet one). */
export function nets(_b: Build): void {}

export function smartcards(_b: Build): void {}

export function serials(_b: Build): void {}

export function parallels(_b: Build): void {}

export function channels(_b: Build): void {}

export function consoles(_b: Build): void {}

export function tpms(_b: Build): void {}

export function redirdevs(_b: Build): void {}

export function hostdevs(_b: Build): void {}

export function rngs(_b: Build): void {}
