/*
 * 64-bit unsigned division and remainder. On i386, gcc compiles a u64 `/` or `%` into
 * a call to __udivdi3 or __umoddi3, which libgcc provides; the guests are freestanding
 * and link without libgcc (so that a 32-bit libgcc, gcc-multilib on Debian, is not
 * needed to build them), so these are ours. Nothing here may use a u64 `/` or `%`.
 *
 * A divisor that fits in 32 bits: long division in two DIV steps (high word, then the
 * remainder and the low word). A larger one: the quotient fits in 32 bits; it is
 * estimated by one DIV of the dividend by the divisor's top 32 bits after shifting the
 * divisor left until its top bit is set (and the dividend right by one, so the DIV
 * cannot overflow), which is at most one too large after the shifts are undone; the
 * remainder then says whether it is (Knuth, TAOCP vol. 2, 4.3.1; Warren, Hacker's
 * Delight, 9-5).
 */
typedef unsigned long long u64;
typedef unsigned int u32;

u64 __udivdi3(u64 n, u64 d);
u64 __umoddi3(u64 n, u64 d);

/* (hi:lo) / d with hi < d, so that the quotient fits in 32 bits. */
static inline u32 div_64_32(u32 hi, u32 lo, u32 d, u32 *rem)
{
    u32 q, r;
    __asm__("divl %4" : "=a"(q), "=d"(r) : "0"(lo), "1"(hi), "rm"(d));
    *rem = r;
    return q;
}

static u64 divmod(u64 n, u64 d, u64 *rem)
{
    u32 nh = (u32)(n >> 32), nl = (u32)n;
    u32 dh = (u32)(d >> 32), dl = (u32)d;
    u32 r;
    if (dh == 0) {
        u32 qh = 0;
        if (nh >= dl) {
            qh = nh / dl;
            nh = nh % dl;
        }
        u32 ql = div_64_32(nh, nl, dl, &r);
        *rem = r;
        return (u64)qh << 32 | ql;
    }
    if (n < d) {
        *rem = n;
        return 0;
    }
    int shift = __builtin_clz(dh);               /* 0..31 */
    u32 top = (u32)((d << shift) >> 32);         /* top bit set */
    u64 half = n >> 1;                           /* its high word < 2^31 <= top */
    u64 q = (u64)div_64_32((u32)(half >> 32), (u32)half, top, &r);
    q = (q << shift) >> 31;                      /* the estimate: exact or one too large */
    if (q != 0)
        q--;                                     /* now exact or one too small */
    u64 left = n - q * d;
    if (left >= d) {
        q++;
        left -= d;
    }
    *rem = left;
    return q;
}

u64 __udivdi3(u64 n, u64 d)
{
    u64 r;
    return divmod(n, d, &r);
}

u64 __umoddi3(u64 n, u64 d)
{
    u64 r;
    divmod(n, d, &r);
    return r;
}
