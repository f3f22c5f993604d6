/**
 * The cgroup v2 device program (BPF_PROG_TYPE_CGROUP_DEVICE), assembled here as raw eBPF
 * instructions so nothing is compiled at run time. Its semantics are libvirt 9.0's
 * (vircgroupv2devices.c): look the device up in a hash map under four keys, most specific first,
 *
 *   major<<32 | minor,  major<<32 | 0xffffffff,  0xffffffff<<32 | minor,  0xffffffffffffffff
 *
 * and allow the access when an entry's value `(access<<16) | type` covers the request's
 * `access_type` (which has the same layout): `(access_type & value) == access_type`. No entry
 * that covers it: deny. An empty map therefore denies everything (libvirt's "deny all").
 *
 * The instruction sequence is our own; only the map encoding and the lookup order are libvirt's,
 * so a map written by libvirt and one written by us mean the same.
 */

// Instruction classes, operations and modes (linux/bpf_common.h, linux/bpf.h).
const BPF_LD = 0x00;
const BPF_LDX = 0x01;
const BPF_STX = 0x03;
const BPF_JMP = 0x05;
const BPF_ALU64 = 0x07;
const BPF_W = 0x00;
const BPF_DW = 0x18;
const BPF_IMM = 0x00;
const BPF_MEM = 0x60;
const BPF_K = 0x00;
const BPF_X = 0x08;
const BPF_ADD = 0x00;
const BPF_OR = 0x40;
const BPF_AND = 0x50;
const BPF_LSH = 0x60;
const BPF_MOV = 0xb0;
const BPF_JEQ = 0x10;
const BPF_CALL = 0x80;
const BPF_EXIT = 0x90;
const BPF_PSEUDO_MAP_FD = 1;
const BPF_FUNC_map_lookup_elem = 1;

/** struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; } */
const CTX_ACCESS_TYPE = 0;
const CTX_MAJOR = 4;
const CTX_MINOR = 8;

interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number | string;
  imm: number;
}

/** A tiny assembler: instructions with symbolic jump targets, resolved by `bytes()`. */
class Assembler {
  private insns: Insn[] = [];
  private labels = new Map<string, number>();

  private emit(code: number, dst: number, src: number, off: number | string, imm: number): this {
    this.insns.push({ code, dst, src, off, imm });
    return this;
  }

  label(name: string): this {
    this.labels.set(name, this.insns.length);
    return this;
  }
  movReg(dst: number, src: number) {
    return this.emit(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
  }
  movImm(dst: number, imm: number) {
    return this.emit(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
  }
  aluImm(op: number, dst: number, imm: number) {
    return this.emit(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm);
  }
  aluReg(op: number, dst: number, src: number) {
    return this.emit(BPF_ALU64 | op | BPF_X, dst, src, 0, 0);
  }
  /** dst = *(u32 *)(src + off) */
  loadW(dst: number, src: number, off: number) {
    return this.emit(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0);
  }
  /** *(u64 *)(dst + off) = src */
  storeDW(dst: number, off: number, src: number) {
    return this.emit(BPF_STX | BPF_MEM | BPF_DW, dst, src, off, 0);
  }
  /** The two-slot 64-bit immediate load; `pseudo` marks `imm` as a map fd. */
  loadImm64(dst: number, value: bigint, pseudo = 0) {
    const v = BigInt.asUintN(64, value);
    this.emit(BPF_LD | BPF_DW | BPF_IMM, dst, pseudo, 0, Number(v & 0xffffffffn) | 0);
    return this.emit(0, 0, 0, 0, Number(v >> 32n) | 0);
  }
  jeqImm(dst: number, imm: number, target: string) {
    return this.emit(BPF_JMP | BPF_JEQ | BPF_K, dst, 0, target, imm);
  }
  jeqReg(dst: number, src: number, target: string) {
    return this.emit(BPF_JMP | BPF_JEQ | BPF_X, dst, src, target, 0);
  }
  call(fn: number) {
    return this.emit(BPF_JMP | BPF_CALL, 0, 0, 0, fn);
  }
  exit() {
    return this.emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  }

  /** struct bpf_insn[]: u8 code, u8 dst:4 src:4, s16 off, s32 imm, little-endian. */
  bytes(): Buffer {
    const buf = Buffer.alloc(this.insns.length * 8);
    this.insns.forEach((insn, i) => {
      let off = insn.off;
      if (typeof off === 'string') {
        const at = this.labels.get(off);
        if (at === undefined) throw new Error(`undefined BPF label ${off}`);
        off = at - (i + 1);
      }
      buf.writeUInt8(insn.code, i * 8);
      buf.writeUInt8(((insn.src & 0xf) << 4) | (insn.dst & 0xf), i * 8 + 1);
      buf.writeInt16LE(off, i * 8 + 2);
      buf.writeInt32LE(insn.imm, i * 8 + 4);
    });
    return buf;
  }
}

const R0 = 0;
const R1 = 1;
const R2 = 2;
const R6 = 6;
const R7 = 7;
const R8 = 8;
const R9 = 9;
const R10 = 10;

/** The four lookup keys, built into r1 from r8 = major<<32 and r9 = minor. */
const KEYS: Array<(a: Assembler) => void> = [
  (a) => a.movReg(R1, R8).aluReg(BPF_OR, R1, R9), // major:minor
  (a) => a.loadImm64(R1, 0xffffffffn).aluReg(BPF_OR, R1, R8), // major:*
  (a) => a.loadImm64(R1, 0xffffffff00000000n).aluReg(BPF_OR, R1, R9), // *:minor
  (a) => a.movImm(R1, -1), // *:*
];

/** The program's instructions for a map fd (the fd is patched in as BPF_PSEUDO_MAP_FD). */
export function deviceProgram(mapFd: number): Buffer {
  const a = new Assembler();
  a.movReg(R6, R1) // r6 = ctx
    .loadW(R7, R6, CTX_ACCESS_TYPE) // r7 = access_type
    .loadW(R8, R6, CTX_MAJOR)
    .aluImm(BPF_LSH, R8, 32) // r8 = major << 32
    .loadW(R9, R6, CTX_MINOR); // r9 = minor
  KEYS.forEach((buildKey, i) => {
    buildKey(a);
    a.storeDW(R10, -8, R1) // the key on the stack
      .movReg(R2, R10)
      .aluImm(BPF_ADD, R2, -8)
      .loadImm64(R1, BigInt(mapFd), BPF_PSEUDO_MAP_FD)
      .call(BPF_FUNC_map_lookup_elem)
      .jeqImm(R0, 0, `next${i}`) // no entry
      .loadW(R1, R0, 0) // r1 = value
      .aluReg(BPF_AND, R1, R7)
      .jeqReg(R1, R7, 'allow') // value covers the request
      .label(`next${i}`);
  });
  a.movImm(R0, 0).exit().label('allow').movImm(R0, 1).exit();
  return a.bytes();
}
