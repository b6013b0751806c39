/*
 * A small network stack for guests: one NIC driver (RTL8139, or NE2000 on PCI or ISA,
 * found at start), Ethernet, ARP, IPv4 with checksums, ICMP echo and UDP. Frames are
 * taken off the card in its interrupt handler into a queue; net_poll() handles them. Addresses as QEMU's user network: we are
 * 10.0.2.15, the peer 10.0.2.2.
 */
#ifndef NET_H
#define NET_H
#include "lib.h"

#define IP(a, b, c, d) (((u32)(a) << 24) | ((u32)(b) << 16) | ((u32)(c) << 8) | (u32)(d))
#define MY_IP IP(10, 0, 2, 15)
#define PEER_IP IP(10, 0, 2, 2)

struct nic {
    const char *name;
    u8 mac[6];
    int (*send)(const u8 *frame, u32 len);      /* 0 on success */
    int (*recv)(u8 *frame, u32 max);            /* bytes, or 0 when nothing waits */
    int (*flush)(void);                         /* waits until every transmit is done */
    int irq;                                    /* the ISA IRQ the card interrupts on */
    void (*irq_enable)(void);                   /* unmask the card's receive interrupts */
};

/* Finds and starts a card; returns 0 when there is none. */
struct nic *ne2000_probe(void);
struct nic *rtl8139_probe(void);

int net_init(void);                              /* probe and start; prints the card; 0 on success */
int net_start(void);                             /* PIC, 100 Hz timer, interrupts on, then net_init */
u32 tsc_per_us(void);                            /* TSC ticks per microsecond, measured on the PIT */
extern struct nic *net;
void net_poll(void);                             /* handles what arrived (ARP, ICMP, UDP) */
void net_idle(void);                             /* sleeps (HLT) until an interrupt, unless a frame already waits */
int arp_resolve(u32 ip, u8 mac[6], u32 timeout_ticks);
int ip_send(u32 dst, u8 proto, const u8 *payload, u32 len);
int udp_send(u32 dst, u16 sport, u16 dport, const u8 *data, u32 len);
/* The last ICMP echo reply seen: sequence number and arrival TSC. */
extern volatile u32 echo_reply_seq, echo_replies;
extern volatile u64_t echo_reply_tsc;
int icmp_echo_send(u32 dst, u16 id, u16 seq, u32 size);
/* ICMP echo requests to us are answered by net_poll. UDP arrivals: a callback per datagram. */
extern void (*udp_handler)(u32 src, u16 sport, u16 dport, const u8 *data, u32 len);

u16 inet_checksum(const void *data, u32 len, u32 initial);
static inline u64_t rdtsc(void) { u32 lo, hi; __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)); return ((u64_t)hi << 32) | lo; }
#endif
