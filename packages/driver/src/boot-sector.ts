/**
 * A 512-byte x86 boot sector, made here rather than downloaded or assembled: real-mode code that
 * writes a greeting to the first serial port (COM1, I/O port 0x3f8) and halts. The BIOS loads it
 * at 0000:7C00 from the first disk because of the 0x55 0xAA signature at its end.
 */
const LOAD_ADDRESS = 0x7c00;

export const DEFAULT_GREETING = 'Hello from a qvirt guest!';

export function greetingBootSector(greeting: string = DEFAULT_GREETING): Uint8Array {
  const text = Buffer.from(`${greeting}\r\n`, 'latin1');
  // Code, offsets in comments. `msg` follows the code at offset 24.
  const msgOffset = 24;
  const msg = LOAD_ADDRESS + msgOffset;
  const code = [
    0xfa, //  0 cli
    0xfc, //  1 cld
    0x31,
    0xc0, //  2 xor ax, ax
    0x8e,
    0xd8, //  4 mov ds, ax
    0xbe,
    msg & 0xff,
    msg >> 8, //  6 mov si, msg
    0xba,
    0xf8,
    0x03, //  9 mov dx, 0x3f8
    0xac, // 12 next: lodsb
    0x84,
    0xc0, // 13 test al, al
    0x74,
    0x03, // 15 jz done (20)
    0xee, // 17 out dx, al
    0xeb,
    0xf8, // 18 jmp next (12)
    0xfa, // 20 done: cli
    0xf4, // 21 hlt
    0xeb,
    0xfc, // 22 jmp done (20)
  ];
  if (code.length !== msgOffset) throw new Error('boot sector layout changed');
  if (msgOffset + text.length + 1 > 510) throw new Error('greeting too long for a boot sector');
  const sector = new Uint8Array(512);
  sector.set(code, 0);
  sector.set(text, msgOffset);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}
