/**
 * A 512-byte x86 boot sector for console and save/restore tests: it answers every byte that
 * arrives on COM1 with the next one ('a' with 'b', so what comes back is the guest's doing) and, every `periodTicks` BIOS timer ticks (18.2 per second), prints a 16-bit
 * counter as four hex digits and CRLF. The counter lives in a register, so a guest that was saved
 * and restored goes on from where it was. Hand-encoded (checked with GNU as `--32`, `.code16`).
 */

/** Ticks between two counter lines by default (about half a second). */
export const DEFAULT_COUNT_PERIOD = 9;
/** A period that never comes in a test's time: the guest only echoes. */
export const ECHO_ONLY = 0xffff;

export function serialGuestBootSector(periodTicks: number = DEFAULT_COUNT_PERIOD): Uint8Array {
  if (!Number.isInteger(periodTicks) || periodTicks < 1 || periodTicks > 0xffff)
    throw new Error('period out of range');
  const code = [
    0xfa, // 00 cli
    0x31,
    0xc0, // 01 xor ax, ax
    0x8e,
    0xd8, // 03 mov ds, ax
    0x8e,
    0xd0, // 05 mov ss, ax
    0xbc,
    0x00,
    0x7c, // 07 mov sp, 0x7c00
    0x31,
    0xdb, // 0a xor bx, bx            ; the counter
    0xba,
    0xf8,
    0x03, // 0c mov dx, 0x3f8
    0xfb, // 0f sti                          ; the BIOS timer wakes hlt
    0xf4, // 10 tick: hlt
    0xba,
    0xfd,
    0x03, // 11 drain: mov dx, 0x3fd   ; line status register
    0xec, // 14 in al, dx
    0xa8,
    0x01, // 15 test al, 1            ; data ready?
    0x74,
    0x09, // 17 jz nochar (22)
    0xba,
    0xf8,
    0x03, // 19 mov dx, 0x3f8
    0xec, // 1c in al, dx                    ; the byte…
    0xfe,
    0xc0, // 1d inc al                ; …as the next one ('a' answers 'b')…
    0xee, // 1f out dx, al                   ; …echoed
    0xeb,
    0xef, // 20 jmp drain (11)
    0xa1,
    0x6c,
    0x04, // 22 nochar: mov ax, [0x46c]  ; BIOS tick count
    0x29,
    0xf8, // 25 sub ax, di
    0x3d,
    periodTicks & 0xff,
    periodTicks >> 8, // 27 cmp ax, period
    0x72,
    0xe4, // 2a jb tick (10)
    0x8b,
    0x3e,
    0x6c,
    0x04, // 2c mov di, [0x46c]
    0xba,
    0xf8,
    0x03, // 30 mov dx, 0x3f8
    0xb9,
    0x04,
    0x00, // 33 mov cx, 4
    0xc1,
    0xc3,
    0x04, // 36 hex: rol bx, 4
    0x88,
    0xd8, // 39 mov al, bl
    0x24,
    0x0f, // 3b and al, 0x0f
    0x04,
    0x30, // 3d add al, '0'
    0x3c,
    0x3a, // 3f cmp al, '9'+1
    0x72,
    0x02, // 41 jb digit (45)
    0x04,
    0x07, // 43 add al, 'A'-'9'-1
    0xee, // 45 digit: out dx, al
    0xe2,
    0xee, // 46 loop hex (36)
    0xb0,
    0x0d, // 48 mov al, CR
    0xee, // 4a out dx, al
    0xb0,
    0x0a, // 4b mov al, LF
    0xee, // 4d out dx, al
    0x43, // 4e inc bx
    0xeb,
    0xbf, // 4f jmp tick (10)
  ];
  if (code.length !== 0x51) throw new Error('boot sector layout changed');
  const sector = new Uint8Array(512);
  sector.set(code, 0);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

/** The counter values in a serial transcript (lines of four hex digits). */
export function countsIn(text: string): number[] {
  return [...text.matchAll(/^([0-9A-F]{4})\r?$/gm)].map((m) => Number.parseInt(m[1]!, 16));
}

/** What the guest answers to `text` (each byte plus one). */
export function echoOf(text: string): string {
  return [...Buffer.from(text, 'latin1')].map((b) => String.fromCharCode((b + 1) & 0xff)).join('');
}
