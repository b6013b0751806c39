/*
 * An NE2000 driver written from the DP8390D datasheet, driving the card the way
 * Linux's 8390/ne2k-pci do: reset through the reset port, the station address from the
 * PROM by remote DMA, the receive ring at pages 0x46-0x80, transmit from page 0x40,
 * packets moved through the data port in word mode, ring overflow handled by the
 * datasheet's recovery sequence. Frames are received in the interrupt handler (PRX,
 * RXE, OVW); a sender waiting for the buffer sleeps until PTX or TXE; two buffers.
 */
#include "net.h"

static u16 io;
static struct nic card;

#define CR 0x00
#define PSTART 0x01
#define PSTOP 0x02
#define BNRY 0x03
#define TPSR 0x04
#define TBCR0 0x05
#define TBCR1 0x06
#define ISR 0x07
#define RSAR0 0x08
#define RSAR1 0x09
#define RBCR0 0x0a
#define RBCR1 0x0b
#define RCR 0x0c
#define TCR 0x0d
#define DCR 0x0e
#define IMR 0x0f
#define CURR 0x07 /* page 1 */
#define DATA 0x10
#define RESET 0x1f
#define RX_START 0x4c
#define RX_STOP 0x80
#define TX_START 0x40

static void remote_setup(u16 addr, u16 count, u8 cmd)
{
    outb(io + RBCR0, count & 0xff);
    outb(io + RBCR1, count >> 8);
    outb(io + RSAR0, addr & 0xff);
    outb(io + RSAR1, addr >> 8);
    outb(io + CR, cmd);
}

/* Data moves through the data port with INSW/OUTSW, as Linux's ne_block_input/output do. */
static void remote_read(u16 addr, u8 *dst, u16 count)
{
    remote_setup(addr, (count + 1) & ~1, 0x0a); /* remote read, start */
    u32 words = count >> 1;
    void *p = dst;
    __asm__ volatile("rep insw" : "+D"(p), "+c"(words) : "d"(io + DATA) : "memory");
    if (count & 1)
        ((u8 *)p)[0] = inw(io + DATA) & 0xff;
    outb(io + ISR, 0x40); /* RDC */
}

static void remote_write(u16 addr, const u8 *src, u16 count)
{
    /* Callers pass even counts (frames are padded to 60 or more and rounded up here). */
    u32 words = (count + 1) >> 1;
    remote_setup(addr, words * 2, 0x12); /* remote write, start */
    const void *p = src;
    __asm__ volatile("rep outsw" : "+S"(p), "+c"(words) : "d"(io + DATA) : "memory");
    while (!(inb(io + ISR) & 0x40))
        ;
    outb(io + ISR, 0x40);
}

/*
 * Two transmit buffers of six pages each (0x40 and 0x46), as Linux's 8390 driver has:
 * the next frame is copied into the idle one while the other is on the wire.
 */
static volatile int tx_busy;   /* a transmit is in flight */
static volatile int tx_error;  /* the last one failed (TXE) */
static int tx_next;            /* which buffer the next frame goes to */

/* A transmit ended (PTX or TXE in isr): acknowledge it. The interrupt handler and the polled wait both come here. */
static void transmit_ended(u8 isr)
{
    outb(io + ISR, isr & 0x0a);
    if (isr & 0x08)
        tx_error = 1;
    tx_busy = 0;
}

/*
 * Waits for the frame in flight to leave: asleep (HLT) until the card's transmit
 * interrupt, as a real kernel's idle loop would, or polling ISR when the caller has
 * interrupts off.
 */
static int wait_transmit(void)
{
    u32 flags = irq_save();
    while (tx_busy) {
        if (flags & 0x200) {
            __asm__ volatile("sti; hlt; cli" : : : "memory");
            continue;
        }
        u8 isr = inb(io + ISR);
        if (isr & 0x0a)
            transmit_ended(isr);
    }
    int r = tx_error ? -1 : 0;
    tx_error = 0;
    irq_restore(flags);
    return r;
}

static int ne_send(const u8 *frame, u32 len)
{
    if (len > 1514)
        return -1;
    u32 n = len < 60 ? 60 : len;
    static u8 buf[1516];
    memcpy(buf, frame, len);
    memset(buf + len, 0, n - len);
    u8 page = TX_START + 6 * tx_next;
    /* The receive interrupt also uses remote DMA: keep it out while ours is set up. */
    u32 flags = irq_save();
    remote_write(page << 8, buf, n);
    irq_restore(flags);
    int r = wait_transmit();
    flags = irq_save();
    outb(io + TPSR, page);
    outb(io + TBCR0, n & 0xff);
    outb(io + TBCR1, n >> 8);
    outb(io + CR, 0x26); /* start, transmit */
    tx_busy = 1;
    tx_next ^= 1;
    irq_restore(flags);
    return r;
}

/* The datasheet's overflow recovery: stop, wait, clear the byte count, loopback, restart. */
static void recover_overflow(void)
{
    outb(io + CR, 0x21);
    for (volatile int i = 0; i < 1000; i++)
        ;
    outb(io + RBCR0, 0);
    outb(io + RBCR1, 0);
    outb(io + TCR, 0x02);
    outb(io + CR, 0x22);
    outb(io + BNRY, RX_START);
    outb(io + CR, 0x62);
    outb(io + CURR, RX_START + 1);
    outb(io + CR, 0x22);
    outb(io + ISR, 0x10);
    outb(io + TCR, 0x00);
}

static int ne_recv(u8 *frame, u32 max)
{
    u8 isr = inb(io + ISR);
    if (isr & 0x0a)
        transmit_ended(isr);
    if (isr & 0x10) {
        recover_overflow();
        return 0;
    }
    outb(io + ISR, isr & 0x05); /* PRX, RXE: acknowledged before the ring is read */
    outb(io + CR, 0x62); /* page 1 */
    u8 curr = inb(io + CURR);
    outb(io + CR, 0x22);
    u8 next = inb(io + BNRY) + 1;
    if (next >= RX_STOP)
        next = RX_START;
    if (next == curr) {
        outb(io + ISR, 0x01);
        return 0;
    }
    u8 hdr[4];
    remote_read(next << 8, hdr, 4);
    u32 len = hdr[2] | (hdr[3] << 8);
    u32 got = 0;
    if (len >= 4 + 14 && len - 4 <= max) {
        got = len - 4;
        u32 addr = (next << 8) + 4;
        u32 first = (RX_STOP << 8) - addr;
        if (got <= first) {
            remote_read(addr, frame, got);
        } else {
            remote_read(addr, frame, first);
            remote_read(RX_START << 8, frame + first, got - first);
        }
    }
    u8 bnry = hdr[1] - 1;
    if (bnry < RX_START)
        bnry = RX_STOP - 1;
    outb(io + BNRY, bnry);
    return (int)got;
}

static void ne_start(void)
{
    u8 r = inb(io + RESET); /* reading the reset port resets the card */
    outb(io + RESET, r);
    while (!(inb(io + ISR) & 0x80))
        ;
    outb(io + ISR, 0xff);
    outb(io + CR, 0x21);
    outb(io + DCR, 0x49); /* word transfers */
    outb(io + RBCR0, 0);
    outb(io + RBCR1, 0);
    outb(io + IMR, 0);
    outb(io + ISR, 0xff);
    /* Station address from the PROM: 32 bytes, each MAC byte doubled in word mode. */
    u8 prom[32];
    remote_read(0, prom, 32);
    for (int i = 0; i < 6; i++)
        card.mac[i] = prom[2 * i];
    outb(io + RCR, 0x04);   /* accept broadcast and our own address */
    outb(io + TCR, 0x02);   /* loopback while the ring is set up */
    outb(io + TPSR, TX_START);
    outb(io + PSTART, RX_START);
    outb(io + BNRY, RX_START);
    outb(io + PSTOP, RX_STOP);
    outb(io + CR, 0x61);    /* page 1, stopped */
    for (int i = 0; i < 6; i++)
        outb(io + 0x01 + i, card.mac[i]);
    for (int i = 0; i < 8; i++)
        outb(io + 0x08 + i, 0);
    outb(io + CURR, RX_START + 1);
    outb(io + CR, 0x22);    /* page 0, start */
    outb(io + ISR, 0xff);
    outb(io + TCR, 0x00);
}

static int ne_flush(void)
{
    return wait_transmit();
}

static void ne_irq_enable(void)
{
    outb(io + ISR, 0x1f);
    outb(io + IMR, 0x1f); /* PRX, PTX, RXE, TXE, OVW */
}

struct nic *ne2000_probe(void)
{
    /* PCI first (the RTL8029, 10ec:8029), then the ISA card at 0x300. */
    for (int dev = 0; dev < 32; dev++) {
        if (pci_read32(0, dev, 0, 0) == 0x802910ecu) {
            io = pci_read32(0, dev, 0, 0x10) & ~3u;
            card.irq = pci_read32(0, dev, 0, 0x3c) & 0xff;
            u32 cmd = pci_read32(0, dev, 0, 0x04);
            pci_write32(0, dev, 0, 0x04, cmd | 1);
            card.name = "ne2000 (PCI RTL8029)";
            goto found;
        }
    }
    io = 0x300;
    if (inb(io + CR) == 0xff)
        return 0;
    card.name = "ne2000 (ISA 0x300)";
    card.irq = 9;
found:
    card.send = ne_send;
    card.recv = ne_recv;
    card.flush = ne_flush;
    card.irq_enable = ne_irq_enable;
    ne_start();
    return &card;
}
