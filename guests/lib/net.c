/* Ethernet, ARP, IPv4, ICMP echo and UDP for guests (RFC 826, 791, 792, 768, 1071). */
#include "net.h"

struct nic *net;
volatile u32 echo_reply_seq, echo_replies;
volatile u64_t echo_reply_tsc;
void (*udp_handler)(u32 src, u16 sport, u16 dport, const u8 *data, u32 len);

static const u8 broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static u32 arp_ip;
static u8 arp_mac[6];
static int arp_valid;
static u16 ip_id;

static void put16(u8 *p, u16 v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put32(u8 *p, u32 v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }
static u16 get16(const u8 *p) { return (p[0] << 8) | p[1]; }
static u32 get32(const u8 *p) { return ((u32)get16(p) << 16) | get16(p + 2); }

u16 inet_checksum(const void *data, u32 len, u32 sum)
{
    const u8 *p = data;
    for (u32 i = 0; i + 1 < len; i += 2)
        sum += (p[i] << 8) | p[i + 1];
    if (len & 1)
        sum += p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return ~sum & 0xffff;
}

static u8 frame[1514];

static int eth_send(const u8 *dst, u16 type, const u8 *payload, u32 len)
{
    if (len > 1500)
        return -1;
    memcpy(frame, dst, 6);
    memcpy(frame + 6, net->mac, 6);
    put16(frame + 12, type);
    memcpy(frame + 14, payload, len);
    return net->send(frame, 14 + len);
}

static void arp_send(u16 op, const u8 *tmac, u32 tip)
{
    u8 p[28];
    put16(p, 1); put16(p + 2, 0x0800); p[4] = 6; p[5] = 4; put16(p + 6, op);
    memcpy(p + 8, net->mac, 6); put32(p + 14, MY_IP);
    memcpy(p + 18, tmac, 6); put32(p + 24, tip);
    eth_send(op == 1 ? broadcast : tmac, 0x0806, p, 28);
}

int arp_resolve(u32 ip, u8 mac[6], u32 timeout_ticks)
{
    u32 start = ticks;
    u32 asked = ticks - 100;
    while (!(arp_valid && arp_ip == ip)) {
        if (ticks - start > timeout_ticks)
            return -1;
        if (ticks - asked >= 10) {
            static const u8 zero[6];
            arp_send(1, zero, ip);
            asked = ticks;
        }
        net_poll();
        __asm__ volatile("sti; hlt");
    }
    memcpy(mac, arp_mac, 6);
    return 0;
}

int ip_send(u32 dst, u8 proto, const u8 *payload, u32 len)
{
    static u8 p[1500];
    u8 mac[6];
    if (len > 1480 || arp_resolve(dst, mac, 300))
        return -1;
    memset(p, 0, 20);
    p[0] = 0x45; put16(p + 2, 20 + len); put16(p + 4, ip_id++); put16(p + 6, 0x4000);
    p[8] = 64; p[9] = proto; put32(p + 12, MY_IP); put32(p + 16, dst);
    put16(p + 10, inet_checksum(p, 20, 0));
    memcpy(p + 20, payload, len);
    return eth_send(mac, 0x0800, p, 20 + len);
}

int icmp_echo_send(u32 dst, u16 id, u16 seq, u32 size)
{
    static u8 p[1480];
    if (size > 1472)
        return -1;
    p[0] = 8; p[1] = 0; put16(p + 2, 0); put16(p + 4, id); put16(p + 6, seq);
    for (u32 i = 0; i < size; i++)
        p[8 + i] = 'a' + i % 23;
    put16(p + 2, inet_checksum(p, 8 + size, 0));
    return ip_send(dst, 1, p, 8 + size);
}

int udp_send(u32 dst, u16 sport, u16 dport, const u8 *data, u32 len)
{
    static u8 p[1480];
    if (len > 1472)
        return -1;
    put16(p, sport); put16(p + 2, dport); put16(p + 4, 8 + len); put16(p + 6, 0);
    memcpy(p + 8, data, len);
    u32 pseudo = (MY_IP >> 16) + (MY_IP & 0xffff) + (dst >> 16) + (dst & 0xffff) + 17 + 8 + len;
    u16 c = inet_checksum(p, 8 + len, pseudo);
    put16(p + 6, c ? c : 0xffff);
    return ip_send(dst, 17, p, 8 + len);
}

static void handle(const u8 *f, u32 len)
{
    if (len < 14)
        return;
    u16 type = get16(f + 12);
    const u8 *p = f + 14;
    len -= 14;
    if (type == 0x0806 && len >= 28) {
        u16 op = get16(p + 6);
        u32 sip = get32(p + 14), tip = get32(p + 24);
        if (op == 2 || tip == MY_IP) {
            arp_ip = sip;
            memcpy(arp_mac, p + 8, 6);
            arp_valid = 1;
        }
        if (op == 1 && tip == MY_IP)
            arp_send(2, p + 8, sip);
        return;
    }
    if (type != 0x0800 || len < 20 || (p[0] >> 4) != 4)
        return;
    u32 ihl = (p[0] & 15) * 4, total = get16(p + 2);
    if (total > len || inet_checksum(p, ihl, 0) != 0 || get32(p + 16) != MY_IP)
        return;
    const u8 *q = p + ihl;
    u32 qlen = total - ihl;
    if (p[9] == 1 && qlen >= 8 && q[0] == 0 && inet_checksum(q, qlen, 0) == 0) {
        echo_reply_tsc = rdtsc();
        echo_reply_seq = get16(q + 6);
        echo_replies++;
    } else if (p[9] == 1 && qlen >= 8 && qlen <= 1480 && q[0] == 8 && inet_checksum(q, qlen, 0) == 0) {
        static u8 reply[1480];
        memcpy(reply, q, qlen);
        reply[0] = 0;
        put16(reply + 2, 0);
        put16(reply + 2, inet_checksum(reply, qlen, 0));
        ip_send(get32(p + 12), 1, reply, qlen);
    } else if (p[9] == 17 && qlen >= 8 && udp_handler) {
        udp_handler(get32(p + 12), get16(q), get16(q + 2), q + 8, get16(q + 4) - 8);
    }
}

/* Frames the interrupt handler took off the card, waiting for net_poll. */
#define RXQ 32
static u8 rxq[RXQ][1514];
static u16 rxq_len[RXQ];
static volatile u32 rxq_head, rxq_tail, rxq_dropped;

static void net_irq(int irq, struct regs *r)
{
    (void)irq;
    (void)r;
    for (;;) {
        u32 slot = rxq_tail % RXQ;
        if (rxq_tail - rxq_head == RXQ) {
            static u8 spill[1514];
            if (net->recv(spill, sizeof(spill)) <= 0)
                break;
            rxq_dropped++;      /* the queue is full: the frame is lost here, not on the card */
            continue;
        }
        int n = net->recv(rxq[slot], sizeof(rxq[slot]));
        if (n <= 0)
            break;
        rxq_len[slot] = (u16)n;
        rxq_tail++;
    }
}

void net_poll(void)
{
    static u8 rx[1514];
    for (;;) {
        u32 f = irq_save();
        if (rxq_head == rxq_tail) {
            irq_restore(f);
            return;
        }
        u32 slot = rxq_head % RXQ;
        u32 n = rxq_len[slot];
        memcpy(rx, rxq[slot], n);
        rxq_head++;
        irq_restore(f);
        handle(rx, n);
    }
}

void net_idle(void)
{
    /* Interrupts stay off from the check to the HLT (STI's one-instruction shadow), so a
       frame that arrives in between still wakes us. */
    __asm__ volatile("cli" : : : "memory");
    if (rxq_head == rxq_tail)
        __asm__ volatile("sti; hlt" : : : "memory");
    else
        __asm__ volatile("sti" : : : "memory");
}

int net_init(void)
{
    net = rtl8139_probe();
    if (!net)
        net = ne2000_probe();
    if (!net) {
        printf("no network card found\n");
        return -1;
    }
    printf("card: %s, mac %02x:%02x:%02x:%02x:%02x:%02x\n", net->name,
           net->mac[0], net->mac[1], net->mac[2], net->mac[3], net->mac[4], net->mac[5]);
    irq_set_handler(net->irq, net_irq);
    irq_enable(net->irq);
    net->irq_enable();
    return 0;
}

int net_start(void)
{
    pic_init();
    timer_init(100);
    sti();
    return net_init();
}

u32 tsc_per_us(void)
{
    sleep_ticks(1);
    u64_t t0 = rdtsc();
    sleep_ticks(10);
    u32 per_us = (u32)((rdtsc() - t0) / 100000);
    return per_us ? per_us : 1;
}
