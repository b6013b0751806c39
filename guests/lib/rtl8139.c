/*
 * An RTL8139 driver written from the RTL8139C(L) datasheet and programming guide, in the
 * manner of Linux's 8139too: bus mastering on, a software reset, the MAC from IDR, an
 * 8 KiB receive ring with WRAP (so a packet is never split), four transmit descriptors
 * used round robin, CAPR kept 16 bytes behind the read offset. Frames are received in
 * the interrupt handler (ROK, RXOVW); a sender waiting for a descriptor sleeps until TOK or TER.
 */
#include "net.h"

#define IDR0 0x00
#define TSD0 0x10
#define TSAD0 0x20
#define RBSTART 0x30
#define CR 0x37
#define CAPR 0x38
#define IMR 0x3c
#define ISR 0x3e
#define TCR 0x40
#define RCR 0x44
#define CONFIG1 0x52
#define RING 8192

static u16 io;
static struct nic card;
static u8 rx_ring[RING + 16 + 1536] __attribute__((aligned(16)));
static u8 tx_buf[4][1536] __attribute__((aligned(16)));
static int tx_cur;
static u32 rx_off;

static volatile int tx_inflight[4];
static volatile int tx_failed[4];

/* Takes back every descriptor the card is done with (TOK, TUN or TABT). */
static void tx_reclaim(void)
{
    for (int d = 0; d < 4; d++) {
        if (!tx_inflight[d])
            continue;
        u32 tsd = inl(io + TSD0 + 4 * d);
        if (tsd & ((1u << 15) | (1u << 14) | (1u << 30))) {
            tx_failed[d] = !(tsd & (1u << 15));
            tx_inflight[d] = 0;
        }
    }
}

/*
 * Waits for descriptor d to come back; 0 when its frame went out. Asleep (HLT) until
 * the card's transmit interrupt, or polling when the caller has interrupts off.
 */
static int tx_wait(int d)
{
    u32 flags = irq_save();
    while (tx_inflight[d]) {
        if (flags & 0x200) {
            __asm__ volatile("sti; hlt; cli" : : : "memory");
            continue;
        }
        outw(io + ISR, 0x000c);                 /* TOK | TER */
        tx_reclaim();
    }
    int r = tx_failed[d] ? -1 : 0;
    tx_failed[d] = 0;
    irq_restore(flags);
    return r;
}

static int rtl_send(const u8 *frame, u32 len)
{
    if (len > 1514)
        return -1;
    u32 n = len < 60 ? 60 : len;
    int r = tx_wait(tx_cur);                    /* four descriptors, used round robin */
    memcpy(tx_buf[tx_cur], frame, len);
    memset(tx_buf[tx_cur] + len, 0, n - len);
    u32 flags = irq_save();
    outl(io + TSAD0 + 4 * tx_cur, (u32)tx_buf[tx_cur]);
    outl(io + TSD0 + 4 * tx_cur, n);            /* OWN = 0: the card takes it */
    tx_inflight[tx_cur] = 1;
    irq_restore(flags);
    tx_cur = (tx_cur + 1) & 3;
    return r;
}

static int rtl_flush(void)
{
    int r = 0;
    for (int d = 0; d < 4; d++)
        r |= tx_wait((tx_cur + d) & 3);
    return r;
}

static int rtl_recv(u8 *frame, u32 max)
{
    u16 isr = inw(io + ISR);
    if (isr & 0x000c) {                         /* TOK | TER: descriptors to take back */
        outw(io + ISR, 0x000c);
        tx_reclaim();
    }
    outw(io + ISR, 0x0011);                     /* ROK | RXOVW: acknowledged before the ring is read */
    if (inb(io + CR) & 0x01)                    /* BUFE: the ring is empty */
        return 0;
    u8 *p = rx_ring + rx_off;
    u32 status = p[0] | (p[1] << 8), len = p[2] | (p[3] << 8);
    int got = 0;
    if ((status & 1) && len >= 4 + 14 && len - 4 <= max) {
        got = (int)(len - 4);                   /* without the CRC */
        memcpy(frame, p + 4, (u32)got);
    }
    rx_off = (rx_off + len + 4 + 3) & ~3u;
    rx_off %= RING;
    outw(io + CAPR, (u16)(rx_off - 16));
    return got;
}

static void rtl_irq_enable(void)
{
    outw(io + ISR, 0xffff);
    outw(io + IMR, 0x001d);                     /* ROK, TOK, TER, RXOVW */
}

struct nic *rtl8139_probe(void)
{
    int dev;
    for (dev = 0; dev < 32; dev++)
        if (pci_read32(0, dev, 0, 0) == 0x813910ecu)
            break;
    if (dev == 32)
        return 0;
    io = pci_read32(0, dev, 0, 0x10) & ~3u;
    card.irq = pci_read32(0, dev, 0, 0x3c) & 0xff;
    pci_write32(0, dev, 0, 0x04, pci_read32(0, dev, 0, 0x04) | 0x5); /* I/O space, bus master */
    outb(io + 0x50, 0xc0);                      /* 9346CR: unlock the CONFIG registers */
    outb(io + CONFIG1, 0x00);                   /* power on */
    outb(io + 0x50, 0x00);                      /* lock them again */
    outb(io + CR, 0x10);                        /* software reset */
    while (inb(io + CR) & 0x10)
        ;
    for (int i = 0; i < 6; i++)
        card.mac[i] = inb(io + IDR0 + i);
    outl(io + RBSTART, (u32)rx_ring);
    outw(io + IMR, 0);
    outb(io + CR, 0x0c);                        /* receiver and transmitter on */
    outl(io + RCR, 0x8e);                       /* WRAP, 8 KiB, broadcast, multicast, our address */
    outl(io + TCR, 0x03000700);                 /* max DMA burst, normal IFG */
    rx_off = 0;
    tx_cur = 0;
    card.name = "rtl8139";
    card.send = rtl_send;
    card.recv = rtl_recv;
    card.flush = rtl_flush;
    card.irq_enable = rtl_irq_enable;
    return &card;
}
