/*
 * Hardware task switching (SDM vol. 3, chapter 7): CALL to a TSS nests (back link, NT,
 * both tasks busy) and the called task's IRET returns; JMP through a task gate does not
 * nest (the old task is no longer busy); CALL to a busy TSS is #GP(selector); CR0.TS is
 * set by every switch; a double fault goes to its handler task through a task gate in
 * the IDT, with error code 0, and that task's IRET resumes the faulting one.
 *
 * The main task runs in the library's TSS (0x28). GDT 0x30: task B's TSS; 0x38: a task
 * gate to it; 0x40: task C's TSS, the double-fault handler (IDT vector 8 is a task gate).
 */
#include "../lib/lib.h"

#define B_SEL 0x30
#define GATE_SEL 0x38
#define C_SEL 0x40

static u32 tss_b[26] __attribute__((aligned(16)));
static u32 tss_c[26] __attribute__((aligned(16)));
static u8 stack_b[4096] __attribute__((aligned(16)));
static u8 stack_c[4096] __attribute__((aligned(16)));
static int failures;

static void check(const char *what, int ok)
{
    printf("%-52s %s\n", what, ok ? "ok" : "FAIL");
    failures += !ok;
}

static u8 *gdt_base(void)
{
    struct { u16 limit; u32 base; } __attribute__((packed)) g;
    __asm__ volatile("sgdt %0" : "=m"(g));
    return (u8 *)g.base;
}

static u8 *idt_base(void)
{
    struct { u16 limit; u32 base; } __attribute__((packed)) g;
    __asm__ volatile("sidt %0" : "=m"(g));
    return (u8 *)g.base;
}

/* The type nibble of a TSS descriptor: 9 available, 0xB busy. */
static u32 tss_type(u32 sel) { return gdt_base()[sel + 5] & 0xf; }
static u32 str(void) { u32 v = 0; __asm__ volatile("str %w0" : "+r"(v)); return v; }
static u32 eflags(void) { u32 f; __asm__ volatile("pushfl; popl %0" : "=r"(f)); return f; }
static void clts(void) { __asm__ volatile("clts"); }

/* What task B saw. */
static volatile u32 b_tr, b_nt, b_link, b_main_type, b_self_type, b_runs;

void task_b_body(void)
{
    b_tr = str();
    b_nt = (eflags() >> 14) & 1;
    b_link = tss_b[0] & 0xffff;
    b_main_type = tss_type(TSS_SEL);
    b_self_type = tss_type(B_SEL);
    b_runs++;
}

/* Task B's two entries: return by IRET (it was called), or by JMP to the main task. */
void task_b_iret(void), task_b_jmp(void);
__asm__(".globl task_b_iret, task_b_jmp\n"
        "task_b_iret:\n  call task_b_body\n  iret\n  jmp task_b_iret\n"
        "task_b_jmp:\n  call task_b_body\n  ljmp $0x28, $0\n  jmp task_b_jmp\n");

/* Task C, the double-fault handler: its error code, then make #GP's gate present again. */
static volatile u32 c_error, c_link, c_tr, c_runs;
void task_c_body(void)
{
    c_link = tss_c[0] & 0xffff;
    c_tr = str();
    c_runs++;
    set_gate_present(13, 1);
}
void task_c_entry(void);
__asm__(".globl task_c_entry\n"
        "task_c_entry:\n  popl c_error\n  call task_c_body\n  iret\n  jmp task_c_entry\n");

static void task_init(u32 *t, void (*eip)(void), u8 *stack)
{
    memset(t, 0, 26 * 4);
    t[7] = read_cr3();
    t[8] = (u32)eip;
    t[9] = 2;                          /* EFLAGS */
    t[14] = (u32)stack;                /* ESP */
    t[18] = KERNEL_DS;                 /* ES */
    t[19] = KERNEL_CS;
    t[20] = KERNEL_DS;                 /* SS */
    t[21] = KERNEL_DS;                 /* DS */
    t[25] = 104 << 16;                 /* no I/O bitmap */
}

static volatile u32 gp_vector, gp_error;
static void gp(struct regs *r)
{
    gp_vector = r->vector;
    gp_error = r->error;
    recover(r);
}

static void call_busy(void) { __asm__ volatile("lcall $0x28, $0"); }
static void load_bad_ds(void) { __asm__ volatile("movw $0x1234, %%ax; movw %%ax, %%ds" : : : "eax"); }

int main(void)
{
    printf("boot: systest-tasks\n");
    tss[7] = read_cr3();
    gdt_set(6, (u32)tss_b, sizeof(tss_b) - 1, 0x89, 0);
    gdt_set_gate(7, B_SEL, 0, 0x85, 0);
    gdt_set(8, (u32)tss_c, sizeof(tss_c) - 1, 0x89, 0);
    set_handler(13, gp, 0);

    /* CALL: nested. */
    task_init(tss_b, task_b_iret, stack_b + sizeof(stack_b));
    tss_b[0] = 0xdead;
    clts();
    __asm__ volatile("lcall $0x30, $0" : : : "memory", "eax", "ecx", "edx");
    printf("call: B saw tr=%x nt=%u link=%x main=%x self=%x\n", b_tr, b_nt, b_link, b_main_type, b_self_type);
    check("CALL to a TSS: B runs with NT and a back link", b_runs == 1 && b_tr == B_SEL && b_nt == 1 && b_link == TSS_SEL);
    check("  both tasks busy", b_main_type == 0xb && b_self_type == 0xb);
    printf("after iret: tr=%x nt=%u B=%x cr0.ts=%u B's saved eflags=%x\n", str(), (eflags() >> 14) & 1, tss_type(B_SEL),
           (read_cr0() >> 3) & 1, tss_b[9]);
    check("B's IRET returns: B free, NT clear in its TSS, TS set",
          str() == TSS_SEL && tss_type(B_SEL) == 9 && (tss_b[9] & 0x4000) == 0 && (read_cr0() & 8));

    /* JMP through the task gate: not nested. */
    task_init(tss_b, task_b_jmp, stack_b + sizeof(stack_b));
    tss_b[0] = 0xdead;
    b_runs = 0;
    clts();
    __asm__ volatile("ljmp $0x38, $0" : : : "memory", "eax", "ecx", "edx");
    printf("jmp: B saw tr=%x nt=%u link=%x main=%x self=%x\n", b_tr, b_nt, b_link, b_main_type, b_self_type);
    check("JMP through a task gate: no NT, no back link", b_runs == 1 && b_tr == B_SEL && b_nt == 0 && b_link == 0xdead);
    check("  the main task was not busy while B ran", b_main_type == 9 && b_self_type == 0xb);
    check("B's JMP back: main busy, B free", str() == TSS_SEL && tss_type(TSS_SEL) == 0xb && tss_type(B_SEL) == 9);

    /* CALL to the busy TSS of the running task. */
    gp_vector = 0xff;
    run_protected(call_busy);
    printf("call to a busy TSS: vector=%u error=%x\n", gp_vector, gp_error);
    check("  is #GP(selector)", gp_vector == 13 && gp_error == TSS_SEL);

    /* A double fault to a task gate: #GP whose gate is not present gives #NP, then #DF. */
    task_init(tss_c, task_c_entry, stack_c + sizeof(stack_c));
    u8 *idt = idt_base();
    *(u32 *)(idt + 8 * 8) = (u32)C_SEL << 16;
    *(u32 *)(idt + 8 * 8 + 4) = 0x8500;
    set_gate_present(13, 0);
    gp_vector = 0xff;
    clts();
    int r = run_protected(load_bad_ds);
    printf("double fault: C saw error=%x link=%x tr=%x; then #GP error=%x\n", c_error, c_link, c_tr, gp_error);
    check("the #DF task ran once, nested, with error code 0", c_runs == 1 && c_error == 0 && c_link == TSS_SEL && c_tr == C_SEL);
    check("its IRET resumed the faulting MOV: #GP(0x1234)", r == 1 && gp_vector == 13 && gp_error == 0x1234);
    check("C free again, main busy", tss_type(C_SEL) == 9 && tss_type(TSS_SEL) == 0xb && str() == TSS_SEL);
    clts();

    printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
