/*
 * The x87 FPU from C (built without -mno-80387: gcc's own x87 code), checked against
 * qemu-system-i386: sums, products, divisions, square roots, conversions to integers and
 * back, the four rounding modes and three precisions, masked exceptions' results, compares,
 * FNSAVE/FRSTOR. The guest library has no float printing, so results print as raw bits in
 * hex (doubles as 16 digits, 80-bit values as exponent:significand).
 *
 * Only what QEMU's softfloat computes as silicon does is printed: no DE or C1 (QEMU never
 * sets DE and leaves C1 clear on a round-up), no stack faults (QEMU does not check the
 * stack), no transcendentals (QEMU goes through doubles).
 */
#include "../lib/lib.h"

typedef unsigned long long u64;

static void put64(const char *what, double d)
{
    union { double d; u32 w[2]; } u = { .d = d };
    printf("%s %08x%08x\n", what, u.w[1], u.w[0]);
}

static void put80(const char *what, long double x)
{
    union { long double x; u32 w[3]; } u;
    memset(&u, 0, sizeof u);
    u.x = x;
    printf("%s %04x:%08x%08x\n", what, u.w[2] & 0xffff, u.w[1], u.w[0]);
}

static inline void fldcw(u16 cw) { __asm__ volatile("fldcw %0" : : "m"(cw)); }
static inline u16 fnstsw(void) { u16 sw; __asm__ volatile("fnstsw %0" : "=a"(sw)); return sw; }
static inline void fnclex(void) { __asm__ volatile("fnclex"); }
static inline long double fsqrt(long double x) { __asm__("fsqrt" : "+t"(x)); return x; }
static inline long double frndint(long double x) { __asm__("frndint" : "+t"(x)); return x; }

static volatile double vzero_for_traps = 0.0;

/* The error path with CR0.NE set: #MF at the next waiting instruction. */
static volatile int mf_count;
static volatile u16 seen_sw;

static void mf_handler(struct regs *r)
{
    (void)r;
    seen_sw = fnstsw();
    fnclex();
    mf_count++;
}

/* 1/0 with ZE unmasked, then FWAIT: the pending exception is taken there. */
static void divide_by_zero_and_wait(void)
{
    __asm__ volatile("fninit");
    fldcw(0x037b);
    __asm__ volatile("fld1\n\tfdivl %0\n\tfwait\n\tfstp %%st(0)" : : "m"(vzero_for_traps));
}

/* Inputs the compiler cannot fold. */
static volatile double vone = 1.0, vthree = 3.0, vseven = 7.0, vneg = -2.5, vzero = 0.0, vbig = 1e300, vtiny = 1e-300;
static volatile int vint = 123456789;

int main(void)
{
    printf("boot: fpu\n");
    __asm__ volatile("fninit");
    printf("sw after fninit %04x\n", fnstsw());

    /* A sum (the harmonic series) and a product, in double and in long double. */
    double h = 0;
    long double hl = 0;
    for (int i = 1; i <= 1000; i++) {
        h += vone / i;
        hl += (long double)vone / i;
    }
    put64("harmonic double", h);
    put80("harmonic ext", hl);
    long double p = 1;
    for (int i = 1; i <= 25; i++)
        p *= (long double)vseven / (i + 0.5L);
    put80("product ext", p);

    /* Divisions and square roots in every rounding mode, at 24, 53 and 64 bits. */
    static const char *const rc[4] = { "nearest", "down", "up", "chop" };
    static const char *const pc[4] = { "p24", "?", "p53", "p64" };
    for (int r = 0; r < 4; r++) {
        for (int q = 0; q < 4; q++) {
            if (q == 1)
                continue;
            fldcw((u16)(0x007f | (q << 8) | (r << 10)));
            long double a = (long double)vone / vthree;
            long double b = fsqrt((long double)vseven);
            long double c = (long double)vneg / vseven;
            long double d = frndint((long double)vneg);
            printf("%s %s ", rc[r], pc[q]);
            put80("1/3", a);
            printf("%s %s ", rc[r], pc[q]);
            put80("sqrt7", b);
            printf("%s %s ", rc[r], pc[q]);
            put80("-2.5/7", c);
            printf("%s %s ", rc[r], pc[q]);
            put80("rndint(-2.5)", d);
        }
    }
    fldcw(0x037f);

    /* Conversions: to int (truncating, as C wants), from int, to float and back. */
    double x = vseven / vthree * 1e6;
    int xi = (int)x;
    long long xl = (long long)(x * 1e6);
    float xf = (float)x;
    printf("int %d\n", xi);
    printf("long long %08x%08x\n", (u32)((u64)xl >> 32), (u32)xl);
    put64("float back to double", (double)xf);
    put64("int to double", (double)vint);
    put64("long long to double", (double)(xl * 3));
    put64("neg to int and back", (double)(int)(vneg * 1000.7));

    /* Masked exceptions: their results and flags (IE ZE OE UE PE, not DE). */
    fnclex();
    put64("1/0", vone / vzero);
    printf("sw %04x\n", fnstsw() & 0x3d);
    fnclex();
    put64("0/0", vzero / vzero);
    printf("sw %04x\n", fnstsw() & 0x3d);
    fnclex();
    put80("sqrt(-2.5)", fsqrt((long double)vneg));
    printf("sw %04x\n", fnstsw() & 0x3d);
    fnclex();
    put64("big*big", vbig * vbig);
    printf("sw %04x\n", fnstsw() & 0x3d);
    fnclex();
    put64("tiny*tiny", vtiny * vtiny);
    printf("sw %04x\n", fnstsw() & 0x3d);
    fnclex();
    put64("1/3", vone / vthree);
    printf("sw %04x\n", fnstsw() & 0x3d);

    /* Compares: C3 C2 C0 from FCOM, and C's comparisons (FUCOMI/FCOMI with CMOV on). */
    long double l1 = vone, l3 = vthree;
    u16 sw;
    __asm__ volatile("fcom %%st(1)\n\tfnstsw %0" : "=a"(sw) : "t"(l1), "u"(l3));
    printf("fcom 1 vs 3: %04x\n", sw & 0x4500);
    __asm__ volatile("fcom %%st(1)\n\tfnstsw %0" : "=a"(sw) : "t"(l3), "u"(l1));
    printf("fcom 3 vs 1: %04x\n", sw & 0x4500);
    double nan = vzero / vzero;
    printf("compares %d %d %d %d %d\n", vone < vthree, vthree <= vone, nan == nan, nan != nan, vone == 1.0);
    double m = vone > vthree ? vone : vthree;
    put64("max", m);

    /* FNSAVE / FRSTOR: control, status and tag words, and the registers. */
    static u8 image[108];
    long double r1 = 3.0L, r2 = -0.0L;
    __asm__ volatile("fldz\n\tfld1\n\tfldt %1\n\tfldt %2\n\tfnsave %0" : "=m"(image) : "m"(r1), "m"(r2));
    printf("fnsave cw %04x sw %04x tw %04x\n", image[0] | image[1] << 8, image[4] | image[5] << 8, image[8] | image[9] << 8);
    for (int i = 0; i < 4; i++) {
        printf("st%d ", i);
        for (int k = 9; k >= 0; k--)
            printf("%02x", image[28 + 10 * i + k]);
        printf("\n");
    }
    printf("sw after fnsave %04x\n", fnstsw());
    u16 cw;
    __asm__ volatile("frstor %1\n\tfnstcw %0" : "=m"(cw) : "m"(image));
    long double back;
    __asm__ volatile("fstpt %0" : "=m"(back));
    put80("restored st0", back);
    printf("sw after frstor and a pop %04x\n", fnstsw());
    __asm__ volatile("fninit");

    /* A pending exception: #MF with NE set (C1 and DE not printed). */
    set_handler(16, mf_handler, 0);
    write_cr0(read_cr0() | 0x20);
    divide_by_zero_and_wait();
    printf("#MF taken %d, sw %04x\n", mf_count, seen_sw & ~0x0202);
    /* NE clear (FERR# to IRQ 13) is not here: qemu-system-i386 7.2 aborts on it (an
     * assertion in tcg_handle_interrupt when the FPU raises the IRQ); board/fpu-irq13.test.ts
     * checks that path. */
    write_cr0(read_cr0() & ~0x20);
    __asm__ volatile("fninit");
    printf("done\n");
    return 0;
}
