/*
 * An RTL8139 driver written from the RTL8139C(L) datasheet and programming guide, in the
 * manner of Linux's 8139too: bus mastering on, a software reset, the MAC from IDR, an
 * 8 KiB receive ring with WRAP (so a packet is never split), four transmit descriptors
 * used round robin, CAPR kept 16 bytes behind the read offset. Frames are received in
 * the interrupt handler (ROK, RXOVW); a sender waiting for a descriptor sleeps until TOK or TER.
 *
 * With `mmio=1` on the command line it reaches the registers through BAR1 (memory
 * space, as Linux's 8139too does by default) instead of BAR0's ports.
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
static volatile u8 *mmio;           /* BAR1, when the registers are reached through memory */
static struct nic card;

static u8 rd8(u32 r) { return mmio ? mmio[r] : inb(io + r); }
static u16 rd16(u32 r) { return mmio ? *(volatile u16 *)(mmio + r) : inw(io + r); }
static u32 rd32(u32 r) { return mmio ? *(volatile u32 *)(mmio + r) : inl(io + r); }
static void wr8(u32 r, u8 v) { if (mmio) mmio[r] = v; else outb(io + r, v); }
static void wr16(u32 r, u16 v) { if (mmio) *(volatile u16 *)(mmio + r) = v; else outw(io + r, v); }
static void wr32(u32 r, u32 v) { if (mmio) *(volatile u32 *)(mmio + r) = v; else outl(io + r, v); }
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
        u32 tsd = rd32(TSD0 + 4 * d);
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
        wr16(ISR, 0x000c);                      /* TOK | TER */
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
    wr32(TSAD0 + 4 * tx_cur, (u32)tx_buf[tx_cur]);
    wr32(TSD0 + 4 * tx_cur, n);                 /* OWN = 0: the card takes it */
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
    u16 isr = rd16(ISR);
    if (isr & 0x000c) {                         /* TOK | TER: descriptors to take back */
        wr16(ISR, 0x000c);
        tx_reclaim();
    }
    wr16(ISR, 0x0011);                          /* ROK | RXOVW: acknowledged before the ring is read */
    if (rd8(CR) & 0x01)                         /* BUFE: the ring is empty */
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
    wr16(CAPR, (u16)(rx_off - 16));
    return got;
}

static void rtl_irq_enable(void)
{
    wr16(ISR, 0xffff);
    wr16(IMR, 0x001d);                          /* ROK, TOK, TER, RXOVW */
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
    if (cmdline_uint("mmio", 0)) {
        mmio = (volatile u8 *)(pci_read32(0, dev, 0, 0x14) & ~15u);
        pci_write32(0, dev, 0, 0x04, (pci_read32(0, dev, 0, 0x04) & ~1u) | 0x6); /* memory space, bus master; no ports */
    } else {
        pci_write32(0, dev, 0, 0x04, pci_read32(0, dev, 0, 0x04) | 0x5); /* I/O space, bus master */
    }
    wr8(0x50, 0xc0);                            /* 9346CR: unlock the CONFIG registers */
    wr8(CONFIG1, 0x00);                         /* power on */
    wr8(0x50, 0x00);                            /* lock them again */
    wr8(CR, 0x10);                              /* software reset */
    while (rd8(CR) & 0x10)
        ;
    for (int i = 0; i < 6; i++)
        card.mac[i] = rd8(IDR0 + i);
    wr32(RBSTART, (u32)rx_ring);
    wr16(IMR, 0);
    wr8(CR, 0x0c);                              /* receiver and transmitter on */
    wr32(RCR, 0x8e);                            /* WRAP, 8 KiB, broadcast, multicast, our address */
    wr32(TCR, 0x03000700);                      /* max DMA burst, normal IFG */
    rx_off = 0;
    tx_cur = 0;
    card.name = "rtl8139";
    card.send = rtl_send;
    card.recv = rtl_recv;
    card.flush = rtl_flush;
    card.irq_enable = rtl_irq_enable;
    return &card;
}
