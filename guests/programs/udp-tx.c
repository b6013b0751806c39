/*
 * udp-tx: sends `count=N` datagrams of `size=N` payload bytes to 10.0.2.2 port 9 as fast
 * as the card takes them, each starting with a 32-bit sequence number; prints how long
 * it took on the TSC (virtual time here) and the rate.
 */
#include "../lib/net.h"

static u8 data[1472];

int main(void)
{
    printf("boot: udp-tx\n");
    u32 count = cmdline_uint("count", 1000), size = cmdline_uint("size", 1472);
    if (size < 4 || size > 1472)
        size = 1472;
    if (net_start())
        return 2;
    u8 mac[6];
    if (arp_resolve(PEER_IP, mac, 300)) {
        printf("udp-tx: 10.0.2.2 does not answer ARP\n");
        return 1;
    }
    u32 per_us = tsc_per_us();
    for (u32 i = 4; i < size; i++)
        data[i] = (u8)i;
    u64_t start = rdtsc();
    u32 errors = 0;
    for (u32 seq = 0; seq < count; seq++) {
        data[0] = seq >> 24; data[1] = seq >> 16; data[2] = seq >> 8; data[3] = seq;
        errors += udp_send(PEER_IP, 9, 9, data, size) != 0;
    }
    errors += net->flush() != 0;
    u32 us = (u32)((rdtsc() - start) / per_us);
    if (!us)
        us = 1;
    u32 frame = 14 + 20 + 8 + size;
    /* Mbit/s of Ethernet frames (with preamble, FCS and gap) over the elapsed time. */
    u32 wire_bits = (frame < 60 ? 60 : frame) + 8 + 4 + 12;
    printf("udp-tx: %u datagrams of %u bytes, %u errors, %u us, %u datagrams/s, %u.%u Mbit/s on the wire\n",
           count, size, errors, us, (u32)((u64_t)count * 1000000 / us),
           (u32)((u64_t)count * wire_bits * 8 / us), (u32)((u64_t)count * wire_bits * 80 / us % 10));
    cli();
    return errors ? 1 : 0;
}
