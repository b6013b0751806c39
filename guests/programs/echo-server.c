/* echo-server: answers ARP and ping, and echoes UDP to port 7, for `seconds=N` (default 2). */
#include "../lib/net.h"

static volatile u32 echoed;

static void on_udp(u32 src, u16 sport, u16 dport, const u8 *d, u32 len)
{
    if (dport != 7)
        return;
    udp_send(src, 7, sport, d, len);
    echoed++;
}

int main(void)
{
    printf("boot: echo-server\n");
    u32 seconds = cmdline_uint("seconds", 2);
    if (net_start())
        return 2;
    udp_handler = on_udp;
    u32 start = ticks;
    while (ticks - start < seconds * 100) {
        net_poll();
        net_idle();
    }
    printf("echo-server: %u datagrams echoed\n", echoed);
    cli();
    return 0;
}
