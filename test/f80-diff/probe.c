/*
 * The x87 reference for test/f80-diff: reads 36-byte cases from stdin (op, control word,
 * operands a and b as 80-bit values, a 10-byte memory operand), runs the instruction with
 * ST(0) = a, ST(1) = b, and writes 32-byte results (ST(0) and ST(1) after it, the status
 * word read with FNSTSW right after it, the 10-byte memory operand). Exceptions are
 * cleared with FNCLEX before anything else runs, so unmasked ones never trap.
 * Built with gcc -m32 -static; runs on the host or under qemu-i386.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

struct __attribute__((packed)) in { uint16_t op, cw; uint8_t a[10], b[10], m[10], pad[2]; };
struct __attribute__((packed)) out { uint8_t s0[10], s1[10]; uint16_t sw; uint8_t m[10]; };

static struct in c;
static struct out o;
static uint8_t mem[10];
static uint16_t mcw = 0x037f;

#define RUN(INSNS) __asm__ volatile( \
  "fninit\n\tfldcw %[cw]\n\tfldt %[b]\n\tfldt %[a]\n\t" INSNS "\n\tfnstsw %[sw]\n\tfnclex\n\tfldcw %[mcw]\n\tfstpt %[s0]\n\tfstpt %[s1]\n\tfninit\n" \
  : [sw] "=m"(o.sw), [s0] "=m"(o.s0), [s1] "=m"(o.s1), [mem] "+m"(mem) \
  : [cw] "m"(c.cw), [a] "m"(c.a), [b] "m"(c.b), [mcw] "m"(mcw) : "memory")

static void one(void) {
  memcpy(mem, c.m, 10);
  switch (c.op) {
    case 0: RUN("fadd %%st(1), %%st"); break;
    case 1: RUN("fsub %%st(1), %%st"); break;
    case 2: RUN("fmul %%st(1), %%st"); break;
    case 3: RUN("fdiv %%st(1), %%st"); break;
    case 4: RUN("fsqrt"); break;
    case 5: RUN("fucom %%st(1)"); break;
    case 6: RUN("fcom %%st(1)"); break;
    case 7: RUN("frndint"); break;
    case 8: RUN("fsts %[mem]"); break;
    case 9: RUN("fstl %[mem]"); break;
    case 10: RUN("fists %[mem]"); break;
    case 11: RUN("fistl %[mem]"); break;
    case 12: RUN("fistpll %[mem]"); break;
    case 13: RUN("flds %[mem]"); break;
    case 14: RUN("fldl %[mem]"); break;
    case 15: RUN("fildl %[mem]"); break;
    case 16: RUN("fildll %[mem]"); break;
    case 17: RUN("fxam"); break;
    case 18: RUN("fld1"); break;
    case 19: RUN("fldl2t"); break;
    case 20: RUN("fldl2e"); break;
    case 21: RUN("fldpi"); break;
    case 22: RUN("fldlg2"); break;
    case 23: RUN("fldln2"); break;
    case 24: RUN("fldz"); break;
    case 25: RUN("fscale"); break;
    case 26: RUN("fxtract"); break;
    case 27: RUN("fprem"); break;
    case 28: RUN("fprem1"); break;
    case 29: RUN("fbld %[mem]"); break;
    case 30: RUN("fbstp %[mem]"); break;
    case 31: RUN("fsin"); break;
    case 32: RUN("fcos"); break;
    case 33: RUN("fptan"); break;
    case 34: RUN("fpatan"); break;
    case 35: RUN("f2xm1"); break;
    case 36: RUN("fyl2x"); break;
    case 37: RUN("fyl2xp1"); break;
    case 38: RUN("fsincos"); break;
    case 39: RUN("fisttpll %[mem]"); break;
    default: memset(&o, 0xff, sizeof o); return;
  }
  memcpy(o.m, mem, 10);
}

int main(void) {
  static uint8_t buf[36 * 4096];
  for (;;) {
    size_t have = 0;
    ssize_t n;
    while (have < sizeof buf && (n = read(0, buf + have, sizeof buf - have)) > 0) have += (size_t)n;
    if (have == 0) return 0;
    static uint8_t outbuf[32 * 4096];
    size_t k = have / 36;
    for (size_t i = 0; i < k; i++) {
      memcpy(&c, buf + i * 36, 36);
      memset(&o, 0, sizeof o);
      one();
      memcpy(outbuf + i * 32, &o, 32);
    }
    for (size_t w = 0; w < k * 32;) { ssize_t m = write(1, outbuf + w, k * 32 - w); if (m <= 0) return 1; w += (size_t)m; }
    if (have < sizeof buf) return 0;
  }
}
