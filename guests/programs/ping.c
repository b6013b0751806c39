/*
 * ping: resolves 10.0.2.2 by ARP and sends `count=N` ICMP echo requests of `size=N`
 * bytes, one every 100 ms; prints each reply's round trip in microseconds of the
 * machine's TSC (virtual time here), and a summary.
 */
#include "../lib/net.h"

int main(void)
{
    printf("boot: ping\n");
    u32 count = cmdline_uint("count", 4), size = cmdline_uint("size", 56);
    if (net_start())
        return 2;
    u32 per_us = tsc_per_us();
    u32 received = 0, sum = 0, min = ~0u, max = 0;
    for (u32 seq = 1; seq <= count; seq++) {
        u32 before = echo_replies;
        u64_t sent = rdtsc();
        if (icmp_echo_send(PEER_IP, 0x1234, (u16)seq, size)) {
            printf("seq %u: no route to 10.0.2.2\n", seq);
            continue;
        }
        u32 start = ticks;
        while (echo_replies == before && ticks - start < 100)
            net_poll();
        if (echo_replies == before) {
            printf("seq %u: timeout\n", seq);
            continue;
        }
        u32 rtt = (u32)((echo_reply_tsc - sent) / per_us);
        printf("seq %u: reply from 10.0.2.2, %u bytes, rtt %u us\n", echo_reply_seq, size, rtt);
        received++;
        sum += rtt;
        if (rtt < min) min = rtt;
        if (rtt > max) max = rtt;
        sleep_ticks(10);
    }
    if (received)
        printf("ping: %u sent, %u received, rtt min/avg/max %u/%u/%u us\n", count, received, min, sum / received, max);
    else
        printf("ping: %u sent, 0 received\n", count);
    cli();
    return received == count ? 0 : 1;
}
