/*
 * Each exception the CPU can raise here, caught by its handler, which prints the
 * vector and error code and resumes (SDM vol. 3, chapter 6). #TS is left out: its
 * clean causes need hardware task switching, which neither side is asked to do.
 * Segment limit, rights and null-selector checks on data accesses are left out too:
 * QEMU's TCG does not make them, so they are tested against the SDM in cpu/cpu.test.ts.
 */
#include "../lib/lib.h"

static volatile u32 seen_vector, seen_error, seen_cr2, seen_count;

static void catcher(struct regs *r)
{
    seen_vector = r->vector;
    seen_error = r->error;
    seen_cr2 = r->vector == 14 ? read_cr2() : 0;
    seen_count++;
    if (r->vector == 7)
        write_cr0(read_cr0() & ~0xcu); /* clear EM and TS so the kernel goes on */
    recover(r);
}

static int failures;

static void expect(const char *what, void (*fn)(void), u32 vector, int has_error, u32 error)
{
    seen_vector = 0xff;
    seen_error = 0xdead;
    int faulted = run_protected(fn);
    int ok = faulted && seen_vector == vector && (!has_error || seen_error == error);
    printf("%-28s vector=%u", what, faulted ? seen_vector : 0xff);
    if (has_error)
        printf(" error=%04x", seen_error);
    if (vector == 14)
        printf(" cr2=%08x", seen_cr2);
    printf(" %s\n", ok ? "ok" : "FAIL");
    failures += !ok;
}

static void t_de(void) { __asm__ volatile("xorl %%ecx, %%ecx; movl $1, %%eax; xorl %%edx, %%edx; divl %%ecx" ::: "eax", "ecx", "edx"); }
static void t_de8(void) { __asm__ volatile("movw $0x1000, %%ax; movb $2, %%cl; divb %%cl" ::: "eax", "ecx"); } /* quotient > 255 */
static void t_db(void) { __asm__ volatile("pushfl; orl $0x100, (%%esp); popfl; nop; nop" ::: "memory"); }
static void t_bp(void) { __asm__ volatile("int3"); }
static void t_of(void) { __asm__ volatile("movl $0x7fffffff, %%eax; addl $1, %%eax; into" ::: "eax"); }
static u32 bounds[2] = { 10, 20 };
static void t_br(void) { __asm__ volatile("movl $25, %%eax; boundl %%eax, %0" : : "m"(bounds) : "eax"); }
static void t_ud(void) { __asm__ volatile("ud2"); }
static void t_ud_lock(void) { __asm__ volatile(".byte 0xf0, 0x90"); } /* LOCK NOP */
static void t_nm(void) { write_cr0(read_cr0() | 0x4); __asm__ volatile(".byte 0xdb, 0xe3"); } /* EM=1; fninit */
static void t_nm_wait(void) { write_cr0(read_cr0() | 0xa); __asm__ volatile("fwait"); } /* MP=TS=1; wait */
static void t_gp_sel(void) { __asm__ volatile("movw $0x1234, %%ax; movw %%ax, %%ds" ::: "eax"); }
static void t_np(void) { __asm__ volatile("movw $0x30, %%ax; movw %%ax, %%es" ::: "eax"); }
static void t_ss(void) { __asm__ volatile("movw %%ss, %%dx; movw $0x38, %%ax; movw %%ax, %%ss; movw %%dx, %%ss" ::: "eax", "edx"); }
static void t_int_gate(void) { __asm__ volatile("int $0x2f"); } /* a not-present gate: #NP(0x2f*8+2) */
static void t_df(void) { set_gate_present(0, 0); t_de(); } /* #DE through a not-present gate: #NP, then #DF */

static u32 page_dir[1024] __attribute__((aligned(4096)));
static u32 page_table[1024] __attribute__((aligned(4096)));
static void t_pf(void) { *(volatile u32 *)0x00400010 = 5; }

int main(void)
{
    printf("boot: systest-exceptions\n");
    for (int v = 0; v < 32; v++)
        set_handler(v, catcher, 0);
    set_gate_present(0x2f, 0);
    gdt_set(6, 0, 0xfffff, 0x12, 0xc);   /* 0x30: data segment, not present */
    gdt_set(7, 0, 0xfffff, 0x12, 0xc);   /* 0x38: writable data, not present (for SS) */

    expect("#DE div by zero", t_de, 0, 0, 0);
    expect("#DE quotient too big", t_de8, 0, 0, 0);
    expect("#DB single step", t_db, 1, 0, 0);
    expect("#BP int3", t_bp, 3, 0, 0);
    expect("#OF into", t_of, 4, 0, 0);
    expect("#BR bound", t_br, 5, 0, 0);
    expect("#UD ud2", t_ud, 6, 0, 0);
    expect("#UD lock nop", t_ud_lock, 6, 0, 0);
    expect("#NM x87 with CR0.EM", t_nm, 7, 0, 0);
    expect("#NM wait with MP and TS", t_nm_wait, 7, 0, 0);
    expect("#GP selector past LDT", t_gp_sel, 13, 1, 0x1234);
    expect("#NP segment not present", t_np, 11, 1, 0x30);
    expect("#SS stack not present", t_ss, 12, 1, 0x38);
    expect("#NP gate not present", t_int_gate, 11, 1, 0x2f * 8 + 2);
    expect("#DF #DE through #NP gate", t_df, 8, 1, 0);
    set_gate_present(0, 1);

    /* Paging: identity-map the first 4 MiB, leave 4..8 MiB unmapped. */
    for (u32 i = 0; i < 1024; i++)
        page_table[i] = (i << 12) | 3;
    page_dir[0] = (u32)page_table | 3;
    write_cr3((u32)page_dir);
    write_cr0(read_cr0() | 0x80000000u);
    expect("#PF write not present", t_pf, 14, 1, 2);
    write_cr0(read_cr0() & ~0x80000000u);

    printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
