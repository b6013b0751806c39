/*
 * The CPU-bound workload for bench/cpu: a sieve of Eratosthenes, table-driven CRC32
 * and an insertion sort of pseudo-random numbers, in a loop. About 7.7 million
 * instructions an iteration; the default 130 iterations make about a billion.
 * `iterations=N` on the command line sets the count; `paging=1` turns paging on first
 * (identity-mapped 4 MiB pages), so the same work runs through the TLB, as a kernel's
 * does. Prints one checksum line per workload, so any wrong instruction shows.
 */
#include "../lib/lib.h"

static u32 crc_table[256];
static u8 sieve[65536];
static u32 numbers[2048];

int main(void)
{
    u32 iterations = cmdline_uint("iterations", 130);
    printf("boot: cpubound\n");
    if (cmdline_uint("paging", 0))
        paging_identity(64);
    for (u32 i = 0; i < 256; i++) {
        u32 c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    u32 primes = 0, crc = 0, sorted = 0;
    for (u32 it = 0; it < iterations; it++) {
        for (u32 i = 0; i < 65536; i++)
            sieve[i] = 1;
        for (u32 i = 2; i * i < 65536; i++)
            if (sieve[i])
                for (u32 j = i * i; j < 65536; j += i)
                    sieve[j] = 0;
        u32 count = 0;
        for (u32 i = 2; i < 65536; i++)
            count += sieve[i];
        u32 c = ~0u;
        for (u32 i = 0; i < 65536; i++)
            c = crc_table[(c ^ sieve[i]) & 0xff] ^ (c >> 8);
        u32 seed = it * 7 + 1;
        for (int i = 0; i < 2048; i++) {
            seed = seed * 1103515245u + 12345u;
            numbers[i] = seed >> 8;
        }
        for (int i = 1; i < 2048; i++) {
            u32 v = numbers[i];
            int j = i - 1;
            while (j >= 0 && numbers[j] > v) {
                numbers[j + 1] = numbers[j];
                j--;
            }
            numbers[j + 1] = v;
        }
        primes += count;
        crc ^= ~c;
        sorted += numbers[1000] ^ numbers[it & 2047];
    }
    printf("iterations: %u\n", iterations);
    printf("sieve: %u primes counted\n", primes);
    printf("crc32: %08x\n", crc);
    printf("sort: %08x\n", sorted);
    return 0;
}
