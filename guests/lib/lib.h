/*
 * The guest kernel library: a small GeekOS-style base for bare-metal test kernels.
 * A program provides `int main(void)`; the library boots it (Multiboot), sets up
 * the console, GDT and IDT, runs it, and exits through isa-debug-exit with its
 * return value (the process status is then (value << 1) | 1, here and under QEMU).
 */
#ifndef LIB_H
#define LIB_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef signed int s32;
typedef unsigned long long u64_t;

/* ---- Port I/O ---- */
static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u16 inw(u16 port) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

/* ---- Console (COM1, polled; mirrored to port 0xE9 with "e9=1" on the command line) and printing ---- */
void serial_init(void);
void putchar(int c);
void puts(const char *s);
void printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- Ending the run ---- */
void exit(int code) __attribute__((noreturn));

/* ---- Memory and strings ---- */
void *memset(void *d, int c, u32 n);
void *memcpy(void *d, const void *s, u32 n);
u32 strlen(const char *s);
int strncmp(const char *a, const char *b, u32 n);

/* ---- Multiboot information ---- */
extern u32 mb_mem_upper;      /* KiB above 1 MiB */
extern const char *mb_cmdline;
/* "key=value" from the command line, as a number; `def` when absent. */
u32 cmdline_uint(const char *key, u32 def);

/* ---- Descriptors ---- */
#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_CS   0x1b
#define USER_DS   0x23
#define TSS_SEL   0x28
/* GDT slots 6..15 (selectors 0x30..0x78) are free for programs. */
void gdt_set(int index, u32 base, u32 limit, u8 access, u8 flags);
void gdt_set_gate(int index, u16 selector, u32 offset, u8 access, u8 params);
extern u32 tss[26];           /* a 32-bit TSS: tss[1] = ESP0, tss[2] = SS0 */

struct regs {
    u32 gs, fs, es, ds;
    u32 edi, esi, ebp, esp_dummy, ebx, edx, ecx, eax;
    u32 vector, error;
    u32 eip, cs, eflags;
    u32 user_esp, user_ss;    /* only after a privilege change */
};
typedef void (*handler_t)(struct regs *r);
/* Installs a handler for a vector; `dpl` 3 lets ring 3 use INT n on it. */
void set_handler(int vector, handler_t h, int dpl);
void set_gate_present(int vector, int present);
void dump_regs(const struct regs *r);

/* Runs fn; returns 0 if it returned, 1 if an expected fault resumed (see recover()). */
int run_protected(void (*fn)(void));
/* From a handler: resume at run_protected's return with value 1. */
void recover(struct regs *r);

/* ---- Interrupt controller, timer, interrupts on and off ---- */
static inline void sti(void) { __asm__ volatile("sti"); }
static inline void cli(void) { __asm__ volatile("cli"); }
static inline void hlt(void) { __asm__ volatile("hlt"); }
/* Disables interrupts and returns the previous EFLAGS, for irq_restore. */
static inline u32 irq_save(void) { u32 f; __asm__ volatile("pushfl; popl %0; cli" : "=r"(f) : : "memory"); return f; }
static inline void irq_restore(u32 f) { if (f & 0x200) __asm__ volatile("sti" : : : "memory"); }
void pic_init(void);                 /* vectors 0x20-0x2f, everything masked */
void irq_enable(int irq);
void irq_disable(int irq);
typedef void (*irq_handler_t)(int irq, struct regs *r);
void irq_set_handler(int irq, irq_handler_t h); /* EOI is sent after the handler */
void irq_dispatch(int irq, struct regs *r);
void timer_init(u32 hz);             /* PIT channel 0, rate generator, IRQ 0 */
extern volatile u32 ticks;
void sleep_ticks(u32 n);             /* waits with HLT */

/* ---- PCI (configuration mechanism #1) ---- */
u32 pci_read32(int bus, int dev, int fn, int off);
void pci_write32(int bus, int dev, int fn, int off, u32 v);
/* Calls fn for every function on bus 0 (all functions of multi-function devices); returns the count. */
int pci_enumerate(void (*fn)(int dev, int func));

/* ---- Physical pages ---- */
void pages_init(void);               /* every page above the kernel, up to mem_upper */
void *page_alloc(void);              /* a zeroed 4 KiB page, or 0 */
void page_free(void *p);
u32 pages_free(void);

/* ---- Optional paging: identity-maps the first `mib` MiB (4 MiB pages, CR4.PSE) ---- */
void paging_identity(u32 mib);

/* ---- Kernel threads, round-robin, preempted by the timer ---- */
int thread_create(void (*fn)(void *), void *arg); /* returns the thread id */
void thread_yield(void);
void thread_exit(void) __attribute__((noreturn));
void thread_join_all(void);          /* waits until every other thread has exited */
int thread_current(void);
extern volatile u32 preemptions;

static inline u32 read_cr0(void) { u32 v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline void write_cr0(u32 v) { __asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory"); }
static inline u32 read_cr2(void) { u32 v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline u32 read_cr3(void) { u32 v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline void write_cr3(u32 v) { __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory"); }
static inline u32 read_cr4(void) { u32 v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }
static inline void write_cr4(u32 v) { __asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory"); }
static inline void invlpg(u32 addr) { __asm__ volatile("invlpg (%0)" : : "r"(addr) : "memory"); }

/* A pointer to a fixed physical address, hidden from the compiler's bounds checks. */
static inline volatile u32 *phys32(u32 addr) { volatile u32 *p; __asm__("" : "=r"(p) : "0"(addr)); return p; }

int main(void);

#endif
