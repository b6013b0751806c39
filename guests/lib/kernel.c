/* Boot, console, descriptor tables, exceptions and exit for guest kernels. */
#include "lib.h"
#include <stdarg.h>

#define COM1 0x3f8

u32 mb_mem_upper;
const char *mb_cmdline = "";

/* ---- Console ---- */

void serial_init(void)
{
    outb(COM1 + 1, 0x00);   /* no interrupts */
    outb(COM1 + 3, 0x80);   /* DLAB */
    outb(COM1 + 0, 0x01);   /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);   /* 8N1 */
    outb(COM1 + 2, 0xc7);   /* FIFOs on, cleared, 14-byte trigger */
    outb(COM1 + 4, 0x03);   /* DTR, RTS */
}

/* Mirror the console to the 0xE9 debug port (Bochs/QEMU -debugcon); off by default,
 * since QEMU shows only the serial line and the two machines' outputs are compared. */
static int mirror_e9;

void putchar(int c)
{
    if (c == '\n')
        putchar('\r');
    while (!(inb(COM1 + 5) & 0x20))
        ;
    outb(COM1, (u8)c);
    if (mirror_e9)
        outb(0xe9, (u8)c);
}

void puts(const char *s)
{
    while (*s)
        putchar(*s++);
}

static void pad(int n)
{
    while (n-- > 0)
        putchar(' ');
}

static void print_num(u32 v, int base, int width, int zero, int neg, int left)
{
    char buf[12];
    int n = 0;
    do {
        buf[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg)
        buf[n++] = '-';
    int fill = width - n;
    if (!left)
        while (fill-- > 0)
            putchar(zero ? '0' : ' ');
    while (n)
        putchar(buf[--n]);
    if (left)
        pad(fill);
}

void printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            putchar(*fmt);
            continue;
        }
        fmt++;
        int zero = 0, width = 0, left = 0;
        if (*fmt == '-') {
            left = 1;
            fmt++;
        }
        if (*fmt == '0') {
            zero = 1;
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        switch (*fmt) {
        case 'd': {
            s32 v = va_arg(ap, s32);
            print_num(v < 0 ? -(u32)v : (u32)v, 10, width, zero, v < 0, left);
            break;
        }
        case 'u': print_num(va_arg(ap, u32), 10, width, zero, 0, left); break;
        case 'x': print_num(va_arg(ap, u32), 16, width, zero, 0, left); break;
        case 'p': puts("0x"); print_num(va_arg(ap, u32), 16, 8, 1, 0, 0); break;
        case 'c': putchar(va_arg(ap, int)); break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int n = (int)strlen(s);
            if (!left)
                pad(width - n);
            puts(s);
            if (left)
                pad(width - n);
            break;
        }
        case '%': putchar('%'); break;
        default: putchar('%'); putchar(*fmt); break;
        }
    }
    va_end(ap);
}

/* ---- Exit through isa-debug-exit (port 0xf4) ---- */

void exit(int code)
{
    outb(0xf4, (u8)code);
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* ---- Strings ---- */

/* String instructions, as a libc does on x86: four bytes at a time, then the rest. */
void *memset(void *d, int c, u32 n)
{
    u32 word = (u8)c * 0x01010101u;
    void *p = d;
    u32 words = n >> 2;
    __asm__ volatile("rep stosl\n\tmovl %3, %%ecx\n\trep stosb"
                     : "+D"(p), "+c"(words) : "a"(word), "r"(n & 3) : "memory");
    return d;
}

void *memcpy(void *d, const void *s, u32 n)
{
    void *p = d;
    u32 words = n >> 2;
    __asm__ volatile("rep movsl\n\tmovl %3, %%ecx\n\trep movsb"
                     : "+D"(p), "+S"(s), "+c"(words) : "r"(n & 3) : "memory");
    return d;
}

u32 strlen(const char *s)
{
    u32 n = 0;
    while (s[n])
        n++;
    return n;
}

int strncmp(const char *a, const char *b, u32 n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (u8)*a - (u8)*b;
        if (!*a)
            return 0;
    }
    return 0;
}

u32 cmdline_uint(const char *key, u32 def)
{
    u32 len = strlen(key);
    const char *p = mb_cmdline;
    while (*p) {
        if ((p == mb_cmdline || p[-1] == ' ') && !strncmp(p, key, len) && p[len] == '=') {
            u32 v = 0;
            for (p += len + 1; *p >= '0' && *p <= '9'; p++)
                v = v * 10 + (*p - '0');
            return v;
        }
        p++;
    }
    return def;
}

/* ---- GDT, TSS ---- */

static u32 gdt[2 * 16];
u32 tss[26];

void gdt_set(int index, u32 base, u32 limit, u8 access, u8 flags)
{
    gdt[2 * index] = (limit & 0xffff) | (base << 16);
    gdt[2 * index + 1] = ((base >> 16) & 0xff) | ((u32)access << 8) | (limit & 0xf0000) |
                         ((u32)(flags & 0xf) << 20) | (base & 0xff000000);
}

void gdt_set_gate(int index, u16 selector, u32 offset, u8 access, u8 params)
{
    gdt[2 * index] = (offset & 0xffff) | ((u32)selector << 16);
    gdt[2 * index + 1] = (offset & 0xffff0000) | ((u32)access << 8) | (params & 0x1f);
}

static void gdt_init(void)
{
    gdt_set(1, 0, 0xfffff, 0x9a, 0xc); /* kernel code */
    gdt_set(2, 0, 0xfffff, 0x92, 0xc); /* kernel data */
    gdt_set(3, 0, 0xfffff, 0xfa, 0xc); /* user code, DPL 3 */
    gdt_set(4, 0, 0xfffff, 0xf2, 0xc); /* user data, DPL 3 */
    tss[1] = (u32)&tss;                 /* ESP0: set by programs that use ring 3 */
    tss[2] = KERNEL_DS;                 /* SS0 */
    tss[25] = sizeof(tss) << 16;        /* I/O map base past the limit: no bitmap */
    gdt_set(5, (u32)tss, sizeof(tss) - 1, 0x89, 0x0);
    struct { u16 limit; u32 base; } __attribute__((packed)) gdtr = { sizeof(gdt) - 1, (u32)gdt };
    __asm__ volatile("lgdt %0\n\t"
                     "ljmp $0x08, $1f\n"
                     "1:\n\t"
                     "movw $0x10, %%ax\n\t"
                     "movw %%ax, %%ds\n\t"
                     "movw %%ax, %%es\n\t"
                     "movw %%ax, %%fs\n\t"
                     "movw %%ax, %%gs\n\t"
                     "movw %%ax, %%ss\n\t"
                     "movw $0x28, %%ax\n\t"
                     "ltr %%ax"
                     : : "m"(gdtr) : "eax", "memory");
}

/* ---- IDT and dispatch ---- */

static u32 idt[2 * 256];
static handler_t handlers[256];
extern u32 isr_table[48];
extern u32 isr_syscall;
extern u32 isr_yield;
extern u8 protected_recover[];

static void idt_gate(int v, u32 addr, int dpl)
{
    idt[2 * v] = (addr & 0xffff) | (KERNEL_CS << 16);
    idt[2 * v + 1] = (addr & 0xffff0000) | 0x8e00 | ((dpl & 3) << 13);
}

void set_handler(int vector, handler_t h, int dpl)
{
    handlers[vector] = h;
    idt[2 * vector + 1] = (idt[2 * vector + 1] & ~0x6000u) | ((dpl & 3) << 13);
}

void set_gate_present(int vector, int present)
{
    if (present)
        idt[2 * vector + 1] |= 0x8000;
    else
        idt[2 * vector + 1] &= ~0x8000u;
}

static const char *const names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "15",
    "#MF", "#AC", "#MC", "#XM", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31",
};

void dump_regs(const struct regs *r)
{
    printf("eax=%08x ebx=%08x ecx=%08x edx=%08x\n", r->eax, r->ebx, r->ecx, r->edx);
    printf("esi=%08x edi=%08x ebp=%08x\n", r->esi, r->edi, r->ebp);
    printf("eip=%08x cs=%04x eflags=%08x\n", r->eip, r->cs, r->eflags);
}

void recover(struct regs *r)
{
    r->eip = (u32)protected_recover;
    r->cs = KERNEL_CS;
    r->eflags &= ~0x100u; /* no single-step past the recovery */
}

/* Set by the scheduler: the frame to resume instead of the interrupted one. */
struct regs *(*schedule_hook)(struct regs *r, int preempt);

struct regs *isr_dispatch(struct regs *r)
{
    if (r->vector >= 32 && r->vector < 48) {
        irq_dispatch(r->vector - 32, r);
        if (r->vector == 32 && schedule_hook)
            return schedule_hook(r, 1);
        return r;
    }
    if (r->vector == 0x81)
        return schedule_hook ? schedule_hook(r, 0) : r;
    if (handlers[r->vector]) {
        handlers[r->vector](r);
        return r;
    }
    if (r->vector < 32) {
        printf("unexpected exception %s (vector %u) error=%x", names[r->vector], r->vector, r->error);
        if (r->vector == 14)
            printf(" cr2=%08x", read_cr2());
        printf("\n");
        dump_regs(r);
        exit(0x7f);
    }
    return r;
}

static void idt_init(void)
{
    for (int v = 0; v < 48; v++)
        idt_gate(v, isr_table[v], 0);
    idt_gate(0x80, isr_syscall, 3);
    idt_gate(0x81, isr_yield, 0);
    struct { u16 limit; u32 base; } __attribute__((packed)) idtr = { sizeof(idt) - 1, (u32)idt };
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

/* ---- Entry ---- */

struct multiboot_info {
    u32 flags, mem_lower, mem_upper, boot_device, cmdline;
};

void kernel_entry(u32 magic, struct multiboot_info *mbi)
{
    serial_init();
    if (magic != 0x2badb002) {
        puts("not started by a Multiboot loader\n");
        exit(0x7e);
    }
    if (mbi->flags & 1)
        mb_mem_upper = mbi->mem_upper;
    if ((mbi->flags & 4) && mbi->cmdline) {
        /* The first word is the kernel's name (GRUB and QEMU pass it): skip it. */
        const char *p = (const char *)mbi->cmdline;
        while (*p && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
        mb_cmdline = p;
    }
    mirror_e9 = cmdline_uint("e9", 0) != 0;
    gdt_init();
    idt_init();
    exit(main());
}
