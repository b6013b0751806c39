/*
 * hostile: programs the network card the way no driver should, to show what each mode
 * lets a guest do. `attack=NAME` picks one:
 *
 *   rbstart  RTL8139: the receive ring at `target` (a guest-physical address past the
 *            end of our memory: under passthrough, another guest's memory), receiver on
 *            and accepting everything, so every frame on the segment is written there.
 *   tsad     RTL8139: transmit 1000 bytes from `target`: whatever is there goes out.
 *   remote   NE2000: a remote read and a remote write that run past the end of the
 *            card's RAM.
 *   ring     NE2000: a receive ring outside the card's RAM, and the card started.
 *   reset    either card: reset it again and again, whoever is using it.
 *   midxfer  NE2000: start a remote write and never finish it, then spin.
 *   flood    either card: a long run of accesses to registers a monitor must watch.
 *   apic     no card needed (run with --apic): 20000 writes of random values to random
 *            registers of the local APIC and the I/O APIC (IPIs of every kind and
 *            shorthand, LVT entries, redirection entries), then a broadcast NMI and
 *            INIT, an error LVT with an illegal vector, and a periodic timer of 64 ticks.
 *
 * `target=N` (default 0x1000000, 16 MiB), `delay=N` loop iterations to wait before the
 * attack (so that it lands while another guest is using the card; default 0),
 * `spin=N` to wait after it (default 30000000). Prints what it did and what it read
 * back, then exits 0.
 */
#include "../lib/lib.h"

static int find(const char *word)
{
    /* Is "attack=WORD" on the command line? */
    const char *p = mb_cmdline;
    const char *key = "attack=";
    for (; *p; p++) {
        int i = 0;
        while (key[i] && p[i] == key[i])
            i++;
        if (key[i])
            continue;
        int j = 0;
        while (word[j] && p[i + j] == word[j])
            j++;
        if (!word[j] && (p[i + j] == 0 || p[i + j] == ' '))
            return 1;
    }
    return 0;
}

static void spin(u32 n)
{
    for (volatile u32 i = 0; i < n; i++)
        ;
}

/* The local APIC's and the I/O APIC's registers, where --apic puts them. */
static void apic_attack(u32 wait)
{
    volatile u32 *lapic = (volatile u32 *)0xfee00000u;
    volatile u32 *ioapic = (volatile u32 *)0xfec00000u;
    u32 seed = 12345;
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        if (i & 1) {
            lapic[((seed >> 8) & 0x3f) * 4] = seed;     /* any of the 64 register slots, any value */
        } else {
            ioapic[0] = (seed >> 16) & 0x3f;            /* any index, the redirection table's among them */
            ioapic[4] = seed;
        }
    }
    lapic[0xf0 / 4] = 0x1ff;                            /* software-enabled again */
    lapic[0x370 / 4] = 0x03;                            /* the error LVT: an illegal vector */
    lapic[0x310 / 4] = 0xff000000u;
    lapic[0x300 / 4] = 0x000c0400u;                     /* NMI to all but itself */
    lapic[0x300 / 4] = 0x00080500u;                     /* INIT to all, itself included */
    lapic[0x300 / 4] = 0x00040003u;                     /* a fixed IPI to itself with vector 3: an error */
    lapic[0x3e0 / 4] = 0xb;                             /* divide by 1 */
    lapic[0x320 / 4] = 0x00020040u;                     /* periodic, vector 0x40 (interrupts stay off) */
    lapic[0x380 / 4] = 64;
    spin(wait);
    lapic[0x380 / 4] = 0;
    printf("hostile: apic: 20000 random writes, a broadcast NMI and INIT, an illegal error vector, a 64-tick periodic timer; version 0x%x, ESR 0x%x\n",
           lapic[0x30 / 4], (lapic[0x280 / 4] = 0, lapic[0x280 / 4]));
}

int main(void)
{
    printf("boot: hostile\n");
    u32 target = cmdline_uint("target", 0x1000000);
    u32 wait = cmdline_uint("spin", 30000000);
    u32 delay = cmdline_uint("delay", 0);
    if (find("apic")) {
        spin(delay);
        apic_attack(wait);
        return 0;
    }
    u16 io = 0;
    int rtl = 0;
    for (int dev = 0; dev < 32 && !io; dev++) {
        u32 id = pci_read32(0, dev, 0, 0);
        if (id == 0x813910ecu || id == 0x802910ecu) {
            rtl = id == 0x813910ecu;
            io = pci_read32(0, dev, 0, 0x10) & ~3u;
            pci_write32(0, dev, 0, 0x04, pci_read32(0, dev, 0, 0x04) | 0x5); /* I/O, bus master */
        }
    }
    if (!io && inb(0x300) != 0xff)
        io = 0x300;
    if (!io) {
        printf("hostile: no card\n");
        return 2;
    }
    printf("hostile: %s at 0x%x, target 0x%x\n", rtl ? "rtl8139" : "ne2000", io, target);
    spin(delay);

    if (rtl && find("rbstart")) {
        outb(io + 0x37, 0x10);                  /* reset */
        outl(io + 0x44, 0x0000000f);            /* accept everything, 8 KiB ring */
        outl(io + 0x30, target);                /* RBSTART outside our memory */
        outb(io + 0x37, 0x0c);                  /* receiver and transmitter on */
        spin(wait);
        printf("hostile: rbstart 0x%x, card reads back 0x%x, write pointer (CBR) 0x%x\n", target, inl(io + 0x30), inw(io + 0x3a));
    } else if (rtl && find("tsad")) {
        outb(io + 0x37, 0x0c);
        outl(io + 0x20, target);                /* TSAD0 outside our memory */
        outl(io + 0x10, 1000);                  /* go: 1000 bytes */
        spin(wait);
        printf("hostile: tsad0 0x%x, TSD0 now 0x%x\n", inl(io + 0x20), inl(io + 0x10));
    } else if (!rtl && find("remote")) {
        outb(io + 0x00, 0x21);
        outb(io + 0x0e, 0x49);                  /* word transfers */
        outb(io + 0x0a, 0x00); outb(io + 0x0b, 0x10);   /* 4 KiB */
        outb(io + 0x08, 0x00); outb(io + 0x09, 0x78);   /* from 0x7800: 2 KiB past the RAM */
        outb(io + 0x00, 0x0a);                  /* remote read */
        u32 sum = 0;
        for (int i = 0; i < 0x800; i++)
            sum += inw(io + 0x10);
        outb(io + 0x0a, 0x00); outb(io + 0x0b, 0x10);
        outb(io + 0x08, 0x00); outb(io + 0x09, 0x7c);
        outb(io + 0x00, 0x12);                  /* remote write */
        for (int i = 0; i < 0x800; i++)
            outw(io + 0x10, 0xdead);
        printf("hostile: remote read sum 0x%x, ISR 0x%x\n", sum, inb(io + 0x07));
        spin(wait);
    } else if (!rtl && find("ring")) {
        outb(io + 0x00, 0x21);
        outb(io + 0x01, 0x10);                  /* PSTART below the RAM */
        outb(io + 0x02, 0xc0);                  /* PSTOP past it */
        outb(io + 0x03, 0x10);
        outb(io + 0x00, 0x61);
        outb(io + 0x07, 0x11);                  /* CURR */
        outb(io + 0x00, 0x22);                  /* start */
        outb(io + 0x0c, 0x1c);                  /* promiscuous */
        spin(wait);
        printf("hostile: ring 0x10-0xc0 started, ISR 0x%x\n", inb(io + 0x07));
    } else if (find("reset")) {
        for (int i = 0; i < 2000; i++) {
            if (rtl)
                outb(io + 0x37, 0x10);
            else
                outb(io + 0x1f, inb(io + 0x1f));
            spin(wait / 2000);
        }
        printf("hostile: 2000 resets\n");
    } else if (!rtl && find("midxfer")) {
        outb(io + 0x00, 0x21);
        outb(io + 0x0e, 0x49);
        outb(io + 0x0a, 0x00); outb(io + 0x0b, 0x06);
        outb(io + 0x08, 0x00); outb(io + 0x09, 0x40);
        outb(io + 0x00, 0x12);                  /* remote write of 1536 bytes... */
        for (int i = 0; i < 16; i++)
            outw(io + 0x10, 0xbeef);            /* ...of which 32 are written */
        spin(wait);
        printf("hostile: left a remote write unfinished\n");
    } else if (find("flood")) {
        for (int i = 0; i < 20000; i++) {
            if (rtl)
                outl(io + 0x10 + 4 * (i & 3), 0x2000);   /* TSD with OWN set: no transmit, but the go point is watched */
            else
                outb(io + 0x00, 0x22);          /* CR, watched */
        }
        printf("hostile: 20000 watched accesses\n");
    } else {
        printf("hostile: no such attack for this card\n");
        return 2;
    }
    return 0;
}
