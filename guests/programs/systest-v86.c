/*
 * Virtual-8086 mode (SDM vol. 3, chapter 20; no CR4.VME): IRET to a V86 task, real-mode
 * segments there, INT n to a ring-0 handler with the V86 segments on its stack and null
 * in the handler, the IOPL-sensitive instructions raising #GP(0) below IOPL 3 (INT3
 * not), IRET inside V86, and the TSS I/O bitmap deciding port access at any IOPL.
 * The 16-bit code is copied to 0x20000 (CS 0x2000) and its stack is at 0x3000:0x1000.
 */
#include "../lib/lib.h"

#define V86_CS 0x2000
#define V86_SS 0x3000
#define V86_BASE 0x20000

static u8 kernel_stack[4096] __attribute__((aligned(16)));
static int failures;

static void check(const char *what, int ok)
{
    printf("%-48s %s\n", what, ok ? "ok" : "FAIL");
    failures += !ok;
}

/* The 16-bit programs, each ending in int 0x80 with AH = 2 (leave V86). */
extern const u8 v86_begin[], v86_end[], v86_main[], v86_cli[], v86_pushf[], v86_int[], v86_int3[],
    v86_io[], v86_io_closed[], v86_iret_ret[];
__asm__(".section .rodata\n"
        ".globl v86_begin, v86_end, v86_main, v86_cli, v86_pushf, v86_int, v86_int3, v86_io, v86_io_closed, v86_iret_ret\n"
        ".code16\n"
        "v86_begin:\n"
        "v86_main:\n"
        "  movw $0x1234, %ax\n"
        "  movw %ax, %ds\n"
        "  movw $0xbeef, (0x10)\n"           /* linear 0x12350 */
        "  pushfl\n"
        "  popl %eax\n"
        "  movl %eax, (0x20)\n"              /* EFLAGS as PUSHFD shows it in V86 */
        "  pushw $0\n"                        /* IRET inside V86: FLAGS 0 (IOPL 0 asked) */
        "  pushw %cs\n"
        "  pushw $(v86_iret_ret - v86_begin)\n"
        "  iret\n"
        "v86_iret_ret:\n"
        "  pushf\n"
        "  popw %ax\n"
        "  movw %ax, (0x30)\n"
        "  movw $0x5678, %ax\n"
        "  movw %ax, %es\n"
        "  movb $1, %ah\n"
        "  movl $0x600dcafe, %ebx\n"
        "  int $0x80\n"                       /* record the frame */
        "  movb $2, %ah\n"
        "  int $0x80\n"
        "v86_cli:\n  cli\n  movb $2, %ah\n  int $0x80\n"
        "v86_pushf:\n  pushf\n  movb $2, %ah\n  int $0x80\n"
        "v86_int:\n  int $0x80\n  movb $2, %ah\n  int $0x80\n"
        "v86_int3:\n  int3\n  movb $2, %ah\n  int $0x80\n"
        "v86_io:\n"
        "  movb $0x55, %al\n"
        "  outb %al, $0x80\n"                 /* open in the bitmap */
        "v86_io_closed:\n"
        "  outb %al, $0xe9\n"                 /* closed */
        "  movb $2, %ah\n"
        "  int $0x80\n"
        "v86_end:\n"
        ".code32\n"
        ".text\n");

/* What the handlers saw. */
static volatile u32 seen_vector, seen_error, seen_eip, seen_cs, seen_eflags, seen_esp, seen_ss, seen_ebx;
static volatile u32 seen_es, seen_ds, seen_fs, seen_gs, seen_handler_ds, recorded;

static void leave_v86(struct regs *r)
{
    recover(r);
    r->eflags &= ~0x20000u; /* back to ring 0 in protected mode: VM clear */
}

static void take(struct regs *r)
{
    const u32 *v86 = (const u32 *)(r + 1); /* ES, DS, FS, GS above SS in a V86 frame */
    seen_vector = r->vector;
    seen_error = r->error;
    seen_eip = r->eip;
    seen_cs = r->cs;
    seen_eflags = r->eflags;
    seen_esp = r->user_esp;
    seen_ss = r->user_ss;
    seen_ebx = r->ebx;
    seen_es = v86[0];
    seen_ds = v86[1];
    seen_fs = v86[2];
    seen_gs = v86[3];
    seen_handler_ds = r->ds; /* as the stub found it on entry */
}

static void syscall(struct regs *r)
{
    if (((r->eax >> 8) & 0xff) == 1) {
        take(r);
        recorded = 1;
        return;
    }
    leave_v86(r);
}

static void fault(struct regs *r)
{
    take(r);
    leave_v86(r);
}

static const u8 *entry;
static u32 entry_flags;

static void enter_v86(void)
{
    __asm__ volatile("pushl $0\n\t"              /* GS */
                     "pushl $0\n\t"              /* FS */
                     "pushl $0x4444\n\t"         /* DS */
                     "pushl $0x3333\n\t"         /* ES */
                     "pushl %0\n\t"              /* SS */
                     "pushl $0x1000\n\t"         /* ESP */
                     "pushl %1\n\t"              /* EFLAGS */
                     "pushl %2\n\t"              /* CS */
                     "pushl %3\n\t"              /* EIP */
                     "iret"
                     : : "i"(V86_SS), "r"(entry_flags), "i"(V86_CS), "r"((u32)(entry - v86_begin)) : "memory");
}

static u32 run_v86(const u8 *at, u32 iopl)
{
    entry = at;
    entry_flags = 0x20002 | (iopl << 12);
    seen_vector = 0xff;
    return (u32)run_protected(enter_v86);
}

static u32 off(const u8 *p) { return (u32)(p - v86_begin); }

/* A TSS with an I/O bitmap for ports 0-0x3ff: closed but for 0x80. */
static u8 io_tss[104 + 128 + 1] __attribute__((aligned(16)));

int main(void)
{
    printf("boot: systest-v86\n");
    memcpy((void *)phys32(V86_BASE), v86_begin, (u32)(v86_end - v86_begin));
    tss[1] = (u32)(kernel_stack + sizeof(kernel_stack));
    tss[2] = KERNEL_DS;
    set_handler(0x80, syscall, 3);
    set_handler(13, fault, 0);
    set_handler(3, fault, 3);

    recorded = 0;
    run_v86(v86_main, 3);
    volatile u8 *low = (volatile u8 *)phys32(0);
    check("int 0x80 reached the ring-0 handler from V86", recorded == 1 && seen_vector == 0x80);
    printf("frame: eip=%x cs=%x eflags=%x esp=%x ss=%x\n", seen_eip - off(v86_begin), seen_cs, seen_eflags, seen_esp, seen_ss);
    printf("v86 segments: es=%x ds=%x fs=%x gs=%x; handler ds=%x\n", seen_es, seen_ds, seen_fs, seen_gs, seen_handler_ds);
    check("the frame has VM, IOPL 3, CS 0x2000, SS:SP 0x3000:0x1000",
          (seen_eflags & 0x23000) == 0x23000 && seen_cs == V86_CS && seen_ss == V86_SS && seen_esp == 0x1000);
    check("ES, DS, FS, GS pushed; the handler starts with DS null",
          seen_es == 0x5678 && seen_ds == 0x1234 && seen_fs == 0 && seen_gs == 0 && seen_handler_ds == 0);
    check("EBX came through", seen_ebx == 0x600dcafe);
    check("DS 0x1234 addresses 0x12340", low[0x12350] == 0xef && low[0x12351] == 0xbe);
    printf("pushfd in v86: %x; after iret with flags 0: %x\n", *phys32(0x12360), *phys32(0x12370) & 0xffff);
    check("PUSHFD in V86 shows VM clear", (*phys32(0x12360) & 0x20000) == 0);
    check("IRET in V86 leaves IOPL 3", (*phys32(0x12370) & 0x3000) == 0x3000);

    const struct { const char *name; const u8 *at; } sensitive[] = {
        { "cli", v86_cli }, { "pushf", v86_pushf }, { "int 0x80", v86_int },
    };
    for (u32 i = 0; i < sizeof(sensitive) / sizeof(sensitive[0]); i++) {
        run_v86(sensitive[i].at, 0);
        printf("%s at IOPL 0: vector=%u error=%x eip=%x\n", sensitive[i].name, seen_vector, seen_error, seen_eip);
        check("  is #GP(0) at the instruction", seen_vector == 13 && seen_error == 0 && seen_eip == off(sensitive[i].at));
    }
    run_v86(v86_int3, 0);
    printf("int3 at IOPL 0: vector=%u eip=%x\n", seen_vector, seen_eip);
    check("  goes through its gate", seen_vector == 3 && seen_eip == off(v86_int3) + 1);

    /* The library's TSS has no bitmap: any port faults, even at IOPL 3. */
    run_v86(v86_io, 3);
    printf("out 0x80 at IOPL 3 without a bitmap: vector=%u eip=%x\n", seen_vector, seen_eip);
    check("  is #GP(0)", seen_vector == 13 && seen_error == 0 && seen_eip == off(v86_io) + 2);

    /* Now a TSS whose bitmap opens port 0x80 only. */
    memset(io_tss, 0xff, sizeof(io_tss));
    memset(io_tss, 0, 104);
    io_tss[104 + 0x80 / 8] &= (u8)~(1 << (0x80 & 7));
    *(u32 *)(io_tss + 4) = (u32)(kernel_stack + sizeof(kernel_stack));
    *(u32 *)(io_tss + 8) = KERNEL_DS;
    *(u16 *)(io_tss + 0x66) = 104;
    gdt_set(6, (u32)io_tss, sizeof(io_tss) - 1, 0x89, 0);
    __asm__ volatile("ltr %w0" : : "r"(0x30));
    run_v86(v86_io, 0);
    printf("out 0x80 then 0xe9 at IOPL 0 with the bitmap: vector=%u eip=%x\n", seen_vector, seen_eip);
    check("  the open port passes, the closed one is #GP(0)", seen_vector == 13 && seen_eip == off(v86_io_closed));

    printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
