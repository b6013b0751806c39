/* CoreMark's port to our guests: the seeds of a performance run, the TSC as its clock, its console (see core_portme.h). */
#include "coremark.h"
#include "core_portme.h"

#if VALIDATION_RUN
volatile ee_s32 seed1_volatile = 0x3415;
volatile ee_s32 seed2_volatile = 0x3415;
volatile ee_s32 seed3_volatile = 0x66;
#endif
#if PERFORMANCE_RUN
volatile ee_s32 seed1_volatile = 0x0;
volatile ee_s32 seed2_volatile = 0x0;
volatile ee_s32 seed3_volatile = 0x66;
#endif
#if PROFILE_RUN
volatile ee_s32 seed1_volatile = 0x8;
volatile ee_s32 seed2_volatile = 0x8;
volatile ee_s32 seed3_volatile = 0x8;
#endif
volatile ee_s32 seed4_volatile = ITERATIONS;
volatile ee_s32 seed5_volatile = 0;

ee_u32 default_num_contexts = 1;

/* Ticks are TSC counts / 1024: a 32-bit count covers over half an hour at 2 GHz. */
#define EE_TICKS_PER_SEC (2000000000u / 1024u)

static CORE_TICKS tsc_ticks(void)
{
    ee_u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (lo >> 10) | (hi << 22);
}

static CORE_TICKS start_time_val, stop_time_val;

void start_time(void) { start_time_val = tsc_ticks(); }
void stop_time(void) { stop_time_val = tsc_ticks(); }
CORE_TICKS get_time(void) { return stop_time_val - start_time_val; }
secs_ret time_in_secs(CORE_TICKS ticks) { return ticks / EE_TICKS_PER_SEC; }

/*
 * CoreMark's printf: what its reports use (%d %u %x %s %c, the 0 flag, a width, and
 * 'l', which is the same width here), written out to our console.
 */
static void put_number(ee_u32 v, ee_u32 base, int width, int zero, int negative)
{
    char digits[12];
    int n = 0;
    do { digits[n++] = "0123456789abcdef"[v % base]; v /= base; } while (v);
    if (negative) {
        if (zero) putchar('-');
        width--;
    }
    for (; width > n; width--) putchar(zero ? '0' : ' ');
    if (negative && !zero) putchar('-');
    while (n) putchar(digits[--n]);
}

int ee_printf(const char *fmt, ...)
{
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') { putchar(*fmt); continue; }
        fmt++;
        int zero = 0, width = 0;
        if (*fmt == '0') { zero = 1; fmt++; }
        while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l') fmt++;
        switch (*fmt) {
        case 'd': { ee_s32 v = __builtin_va_arg(ap, ee_s32); put_number(v < 0 ? -(ee_u32)v : (ee_u32)v, 10, width, zero, v < 0); break; }
        case 'u': put_number(__builtin_va_arg(ap, ee_u32), 10, width, zero, 0); break;
        case 'x': put_number(__builtin_va_arg(ap, ee_u32), 16, width, zero, 0); break;
        case 'c': putchar(__builtin_va_arg(ap, int)); break;
        case 's': { const char *s = __builtin_va_arg(ap, const char *); while (*s) putchar(*s++); break; }
        case '%': putchar('%'); break;
        case 0: fmt--; break;
        default: putchar('%'); putchar(*fmt); break;
        }
    }
    __builtin_va_end(ap);
    return 0;
}

void portable_init(core_portable *p, int *argc, char *argv[])
{
    (void)argc;
    (void)argv;
    /* The line bench/cpu starts timing at, as for the other workloads. */
    printf("boot: coremark\n");
    /* paging=1 on the command line: the same work through the TLB, as bench/cpu's ours-paged runs cpubound. */
    if (cmdline_uint("paging", 0))
        paging_identity(64);
    p->portable_id = 1;
}

void portable_fini(core_portable *p) { p->portable_id = 0; }
