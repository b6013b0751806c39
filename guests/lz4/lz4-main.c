/*
 * A compressor as a CPU workload (bench/cpu --workload lz4): LZ4's own library,
 * unmodified (lz4.c and lz4hc.c from a copy named by LZ4_DIR, never committed; built in
 * its freestanding mode), compresses a generated text with its fast and its HC
 * compressor and decompresses both, ITERATIONS times. A shape CoreMark lacks: hash
 * tables and match searches over a large buffer, byte copies, unpredictable branches.
 * Prints the sizes and a CRC32 of each compressed stream and checks every round trip,
 * so a wrong instruction shows. `paging=1` on the command line runs it through the TLB.
 */
#include "../lib/lib.h"

/* The Makefile builds LZ4 freestanding: its copies are gcc's builtins, its memmove ours (freestanding.h). */
#define LZ4_STATIC_LINKING_ONLY
#define LZ4_HC_STATIC_LINKING_ONLY
#include "lz4.h"
#include "lz4hc.h"

#ifndef ITERATIONS
#define ITERATIONS 8
#endif
#define TEXT (256 * 1024)

static char text[TEXT], packed[TEXT + TEXT / 255 + 64], unpacked[TEXT];
static LZ4_stream_t fast_state;
static LZ4_streamHC_t hc_state;
static u32 crc_table[256];

void *lz4_memmove(void *d, const void *s, unsigned n)
{
    u8 *dp = d;
    const u8 *sp = s;
    if (dp < sp)
        for (unsigned i = 0; i < n; i++) dp[i] = sp[i];
    else
        for (unsigned i = n; i > 0; i--) dp[i - 1] = sp[i - 1];
    return d;
}

static u32 crc32(const char *p, u32 n)
{
    u32 c = 0xffffffffu;
    for (u32 i = 0; i < n; i++) c = crc_table[(c ^ (u8)p[i]) & 0xff] ^ (c >> 8);
    return ~c;
}

/* Words from a small vocabulary in a skewed order, with numbers: text that compresses about 3:1. */
static void make_text(void)
{
    static const char *words[] = { "the", "card", "guest", "monitor", "frame", "register", "handoff", "ring", "buffer",
                                   "interrupt", "model", "owner", "transmit", "receive", "quantum", "descriptor" };
    u32 seed = 12345, n = 0;
    while (n < TEXT - 16) {
        seed = seed * 1103515245u + 12345u;
        u32 r = seed >> 16;
        const char *w = words[(r & 15) & ((r >> 4) & 15)];
        while (*w && n < TEXT - 16) text[n++] = *w++;
        if ((r & 63) == 0) { u32 v = seed % 100000; do { text[n++] = (char)('0' + v % 10); v /= 10; } while (v); }
        text[n++] = (r & 127) == 1 ? '\n' : ' ';
    }
    while (n < TEXT) text[n++] = '.';
}

int main(void)
{
    printf("boot: lz4\n");
    if (cmdline_uint("paging", 0))
        paging_identity(64);
    for (u32 i = 0; i < 256; i++) {
        u32 c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    make_text();
    printf("text: %u bytes, crc %08x\n", TEXT, crc32(text, TEXT));
    int failures = 0, fast = 0, hc = 0;
    for (int it = 0; it < ITERATIONS; it++) {
        fast = LZ4_compress_fast_extState(&fast_state, text, packed, TEXT, sizeof packed, 1);
        int back = LZ4_decompress_safe(packed, unpacked, fast, TEXT);
        failures += back != TEXT || crc32(unpacked, TEXT) != crc32(text, TEXT);
        if (it == 0) printf("fast: %d bytes, crc %08x\n", fast, crc32(packed, (u32)fast));
        hc = LZ4_compress_HC_extStateHC(&hc_state, text, packed, TEXT, sizeof packed, 9);
        back = LZ4_decompress_safe(packed, unpacked, hc, TEXT);
        failures += back != TEXT || crc32(unpacked, TEXT) != crc32(text, TEXT);
        if (it == 0) printf("hc9: %d bytes, crc %08x\n", hc, crc32(packed, (u32)hc));
    }
    printf("lz4: %d rounds, %d failures\n", ITERATIONS, failures);
    return failures ? 1 : 0;
}
