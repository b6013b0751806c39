/*
 * udp-rx: receives the peer's UDP stream on port 9 (sequence numbers first) until
 * `count=N` datagrams arrived or a second passes with none; reports loss and rate.
 */
#include "../lib/net.h"

static volatile u32 got, lost, expected, bytes;
static volatile u32 last_tick;

static void on_udp(u32 src, u16 sport, u16 dport, const u8 *d, u32 len)
{
    (void)src;
    (void)sport;
    if (dport != 9 || len < 4)
        return;
    u32 seq = ((u32)d[0] << 24) | ((u32)d[1] << 16) | ((u32)d[2] << 8) | d[3];
    if (seq > expected)
        lost += seq - expected;
    if (seq >= expected)
        expected = seq + 1;
    got++;
    bytes += len;
    last_tick = ticks;
}

int main(void)
{
    printf("boot: udp-rx\n");
    u32 count = cmdline_uint("count", 1000);
    if (net_start())
        return 2;
    udp_handler = on_udp;
    u32 start = ticks;
    last_tick = ticks;
    u32 first = 0;
    while (got < count && ticks - last_tick < 100) {
        net_poll();
        if (got && !first)
            first = ticks;
        if (got < count)
            net_idle();
    }
    u32 secs100 = ticks - (first ? first : start);
    printf("udp-rx: %u datagrams, %u bytes, %u lost, %u ticks of 10 ms\n", got, bytes, lost, secs100);
    cli();
    return got == count && lost == 0 ? 0 : 1;
}
