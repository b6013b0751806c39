/*
 * Privilege levels (SDM vol. 3, chapter 5 and 6.12): IRET to a ring-3 task whose
 * stack and code are user segments; the task calls back through an interrupt gate
 * with DPL 3 (int 0x80), which switches to the ring-0 stack from the TSS; a far call
 * through a call gate to ring 0 copies parameters; a privileged instruction in ring 3
 * raises #GP(0); a gate with DPL 0 raises #GP(vector*8+2).
 */
#include "../lib/lib.h"

static u8 user_stack[4096] __attribute__((aligned(16)));
static u8 kernel_stack[4096] __attribute__((aligned(16)));
static volatile u32 syscall_esp, syscall_cs, syscall_ss, user_esp_seen, callgate_sum;
static int failures;

static void check(const char *what, int ok)
{
    printf("%-40s %s\n", what, ok ? "ok" : "FAIL");
    failures += !ok;
}

/* int 0x80 from ring 3: eax = 1 print a character (ebx), eax = 2 leave ring 3. */
static void syscall(struct regs *r)
{
    u32 esp;
    __asm__ volatile("movl %%esp, %0" : "=r"(esp));
    syscall_esp = esp;
    syscall_cs = r->cs;
    syscall_ss = r->user_ss;
    user_esp_seen = r->user_esp;
    if (r->eax == 1)
        putchar((int)r->ebx);
    else if (r->eax == 2)
        recover(r);
}

static volatile u32 gp_vector = 0xff, gp_error, gp_cs;
static void gp(struct regs *r)
{
    gp_vector = r->vector;
    gp_error = r->error;
    gp_cs = r->cs;
    recover(r);
}

/* Reached through the call gate at 0x30 with two dword parameters, at CPL 0. */
void callgate_target(void);
__asm__(".globl callgate_target\n"
        "callgate_target:\n"
        "  movl 8(%esp), %eax\n"      /* the parameters sit above CS:EIP */
        "  addl 12(%esp), %eax\n"
        "  movl %eax, callgate_sum\n"
        "  lret $8\n");

/* Ring-3 code (runs with user CS/DS/SS). */
void user_main(void);
__asm__(".globl user_main\n"
        "user_main:\n"
        "  movl $1, %eax; movl $'u', %ebx; int $0x80\n"
        "  movl $1, %eax; movl $'3', %ebx; int $0x80\n"
        "  movl $1, %eax; movl $10, %ebx; int $0x80\n"
        "  pushl $30; pushl $12\n"          /* call gate parameters */
        "  lcall $0x33, $0\n"               /* selector 0x30 | RPL 3 */
        "  movl $2, %eax; int $0x80\n");

void user_hlt(void);
__asm__(".globl user_hlt\nuser_hlt:\n  hlt\n  jmp user_hlt\n");
void user_int(void);
__asm__(".globl user_int\nuser_int:\n  int $0x21\n  jmp user_int\n");

/*
 * Ring 3 runs with IF clear. This guest leaves the PICs as the firmware did (IRQ 0 on
 * vector 8, the PIT ticking at 18.2 Hz), so with IF set a tick landing in ring 3 came
 * in as vector 8 and looked like a #DF: under QEMU, on a loaded host, that happened.
 * Nothing here tests interrupts, and whether a tick lands must not decide the output.
 */
static void enter_ring3(void (*entry)(void))
{
    __asm__ volatile("movw %0, %%ax\n\t"
                     "movw %%ax, %%ds\n\t"
                     "movw %%ax, %%es\n\t"
                     "pushl %0\n\t"             /* SS */
                     "pushl %1\n\t"             /* ESP */
                     "pushl $0x002\n\t"         /* EFLAGS: IOPL 0, IF clear (see below) */
                     "pushl %2\n\t"             /* CS */
                     "pushl %3\n\t"             /* EIP */
                     "iret"
                     : : "i"(USER_DS), "r"(user_stack + sizeof(user_stack)), "i"(USER_CS), "r"(entry) : "eax", "memory");
}

static void run_user_main(void) { enter_ring3(user_main); }
static void run_user_hlt(void) { enter_ring3(user_hlt); }
static void run_user_int(void) { enter_ring3(user_int); }

int main(void)
{
    printf("boot: systest-ring3\n");
    tss[1] = (u32)(kernel_stack + sizeof(kernel_stack));
    tss[2] = KERNEL_DS;
    set_handler(0x80, syscall, 3);
    set_handler(13, gp, 0);
    gdt_set_gate(6, KERNEL_CS, (u32)callgate_target, 0xec, 2); /* 0x30: 32-bit call gate, DPL 3, 2 params */

    int r = run_protected(run_user_main);
    check("ring 3 returned through int 0x80", r == 1);
    check("int 0x80 arrived on the TSS ring-0 stack",
          syscall_esp < (u32)(kernel_stack + sizeof(kernel_stack)) && syscall_esp > (u32)kernel_stack);
    check("the gate frame holds user CS and SS", syscall_cs == USER_CS && syscall_ss == USER_DS);
    check("the frame's ESP is on the user stack",
          user_esp_seen <= (u32)(user_stack + sizeof(user_stack)) && user_esp_seen > (u32)user_stack);
    printf("call gate sum: %u\n", callgate_sum);
    check("the call gate copied both parameters", callgate_sum == 42);

    run_protected(run_user_hlt);
    printf("hlt in ring 3: vector=%u error=%x cs=%x\n", gp_vector, gp_error, gp_cs);
    check("hlt in ring 3 is #GP(0)", gp_vector == 13 && gp_error == 0 && gp_cs == USER_CS);

    gp_vector = 0xff;
    run_protected(run_user_int);
    printf("int 0x21 in ring 3: vector=%u error=%x\n", gp_vector, gp_error);
    check("int through a DPL 0 gate is #GP(v*8+2)", gp_vector == 13 && gp_error == 0x21 * 8 + 2);

    printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
