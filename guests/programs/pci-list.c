/* Enumerates PCI bus 0 through configuration mechanism #1 and prints what it finds. */
#include "../lib/lib.h"

static void show(int dev, int fn)
{
    u32 id = pci_read32(0, dev, fn, 0x00);
    u32 class = pci_read32(0, dev, fn, 0x08);
    u32 irq = pci_read32(0, dev, fn, 0x3c);
    printf("00:%02x.%u %04x:%04x class %06x rev %02x", dev, fn, id & 0xffff, id >> 16, class >> 8, class & 0xff);
    if ((irq >> 8) & 0xff)
        printf(" irq %u (pin %c)", irq & 0xff, 'A' - 1 + ((irq >> 8) & 0xff));
    printf("\n");
    for (int bar = 0; bar < 6; bar++) {
        u32 off = 0x10 + bar * 4;
        u32 v = pci_read32(0, dev, fn, off);
        pci_write32(0, dev, fn, off, 0xffffffff);
        u32 mask = pci_read32(0, dev, fn, off);
        pci_write32(0, dev, fn, off, v);
        if (!mask)
            continue;
        if (v & 1)
            printf("  bar%d io  0x%04x size %u\n", bar, v & ~3u, (~(mask & ~3u) + 1) & 0xffff);
        else
            printf("  bar%d mem 0x%08x size %u\n", bar, v & ~15u, ~(mask & ~15u) + 1);
    }
}

int main(void)
{
    printf("boot: pci-list\n");
    int found = pci_enumerate(show);
    printf("%d functions\n", found);
    return 0;
}
