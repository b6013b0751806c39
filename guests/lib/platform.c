/* PIC, PIT, PCI configuration access and the physical page allocator. */
#include "lib.h"

/* ---- 8259A pair: ICW1-4 as every PC kernel writes them ---- */

static irq_handler_t irq_handlers[16];

void pic_init(void)
{
    outb(0x20, 0x11); outb(0xa0, 0x11);  /* ICW1: edge, cascade, ICW4 */
    outb(0x21, 0x20); outb(0xa1, 0x28);  /* ICW2: vector bases */
    outb(0x21, 0x04); outb(0xa1, 0x02);  /* ICW3: slave on IR2 */
    outb(0x21, 0x01); outb(0xa1, 0x01);  /* ICW4: 8086 mode */
    outb(0x21, 0xfb); outb(0xa1, 0xff);  /* all masked but the cascade */
}

void irq_enable(int irq)
{
    u16 port = irq < 8 ? 0x21 : 0xa1;
    outb(port, inb(port) & ~(1 << (irq & 7)));
}

void irq_disable(int irq)
{
    u16 port = irq < 8 ? 0x21 : 0xa1;
    outb(port, inb(port) | (1 << (irq & 7)));
}

void irq_set_handler(int irq, irq_handler_t h)
{
    irq_handlers[irq] = h;
}

void irq_dispatch(int irq, struct regs *r)
{
    if (irq_handlers[irq])
        irq_handlers[irq](irq, r);
    if (irq >= 8)
        outb(0xa0, 0x20);
    outb(0x20, 0x20);
}

/* ---- 8254 channel 0 ---- */

volatile u32 ticks;

static void timer_tick(int irq, struct regs *r)
{
    (void)irq;
    (void)r;
    ticks++;
}

void timer_init(u32 hz)
{
    u32 divisor = 1193182 / hz;
    irq_set_handler(0, timer_tick);
    outb(0x43, 0x34);                    /* channel 0, LSB then MSB, mode 2 */
    outb(0x40, divisor & 0xff);
    outb(0x40, divisor >> 8);
    irq_enable(0);
}

void sleep_ticks(u32 n)
{
    u32 until = ticks + n;
    while ((s32)(until - ticks) > 0)
        __asm__ volatile("sti; hlt");
}

/* ---- PCI ---- */

u32 pci_read32(int bus, int dev, int fn, int off)
{
    outl(0xcf8, 0x80000000u | (bus << 16) | (dev << 11) | (fn << 8) | (off & 0xfc));
    return inl(0xcfc);
}

void pci_write32(int bus, int dev, int fn, int off, u32 v)
{
    outl(0xcf8, 0x80000000u | (bus << 16) | (dev << 11) | (fn << 8) | (off & 0xfc));
    outl(0xcfc, v);
}

int pci_enumerate(void (*fn)(int dev, int func))
{
    int found = 0;
    for (int dev = 0; dev < 32; dev++) {
        if ((pci_read32(0, dev, 0, 0) & 0xffff) == 0xffff)
            continue;
        int functions = (pci_read32(0, dev, 0, 0x0c) >> 16) & 0x80 ? 8 : 1;
        for (int f = 0; f < functions; f++) {
            if ((pci_read32(0, dev, f, 0) & 0xffff) == 0xffff)
                continue;
            fn(dev, f);
            found++;
        }
    }
    return found;
}

/* ---- Physical pages: a free list of 4 KiB pages from the end of the kernel ---- */

extern u8 _end[];
static u32 *free_list;
static u32 free_count;

void pages_init(void)
{
    u32 start = ((u32)_end + 0xfff) & ~0xfffu;
    u32 end = 0x100000 + mb_mem_upper * 1024;
    for (u32 p = end - 4096; p >= start; p -= 4096)
        page_free((void *)p);
}

void *page_alloc(void)
{
    u32 *p = free_list;
    if (!p)
        return 0;
    free_list = (u32 *)*p;
    free_count--;
    memset(p, 0, 4096);
    return p;
}

void page_free(void *p)
{
    *(u32 **)p = free_list;
    free_list = p;
    free_count++;
}

u32 pages_free(void)
{
    return free_count;
}

/* ---- Optional paging ---- */

static u32 boot_pd[1024] __attribute__((aligned(4096)));

void paging_identity(u32 mib)
{
    for (u32 i = 0; i < 1024; i++)
        boot_pd[i] = i < (mib + 3) / 4 ? (i << 22) | 0x83 : 0; /* 4 MiB page, RW, present */
    write_cr4(read_cr4() | 0x10);
    write_cr3((u32)boot_pd);
    write_cr0(read_cr0() | 0x80000000u);
}
