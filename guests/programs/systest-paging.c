/*
 * 32-bit paging (SDM vol. 3, chapter 4): 4 KiB pages through a page table, a 4 MiB
 * page with CR4.PSE, the accessed and dirty bits the CPU sets, CR0.WP making
 * read-only pages read-only for ring 0 too, INVLPG and CR3 reloads after a PTE
 * changes, and page faults with their error codes and CR2, fixed and resumed.
 */
#include "../lib/lib.h"

static u32 pd[1024] __attribute__((aligned(4096)));
static u32 pt0[1024] __attribute__((aligned(4096)));
static u32 pt1[1024] __attribute__((aligned(4096)));
static int failures;
static volatile u32 pf_count, pf_error, pf_cr2;

static void check(const char *what, int ok)
{
    printf("%-44s %s\n", what, ok ? "ok" : "FAIL");
    failures += !ok;
}

/* Page faults: record, then map the page (present, writable) and retry the access. */
static void fix_fault(struct regs *r)
{
    (void)r;
    pf_count++;
    pf_error = r->error;
    pf_cr2 = read_cr2();
    u32 page = pf_cr2 >> 12;
    if (page >= 1024 && page < 2048) {
        pt1[page - 1024] |= 3;
        invlpg(pf_cr2);
    }
}

#define VA(n) ((volatile u32 *)(0x400000 + (n) * 4096))

int main(void)
{
    printf("boot: systest-paging\n");
    set_handler(14, fix_fault, 0);
    /* 0..4 MiB identity through pt0; 4..8 MiB through pt1 onto frames at 6 MiB; 8..12 MiB a 4 MiB page onto 0. */
    for (u32 i = 0; i < 1024; i++) {
        pt0[i] = (i << 12) | 3;
        pt1[i] = (0x600000 + (i << 12)) | 3;
    }
    pd[0] = (u32)pt0 | 3;
    pd[1] = (u32)pt1 | 3;
    pd[2] = 0x00000000 | 0x83; /* 4 MiB page: PS, RW, P */
    write_cr4(read_cr4() | 0x10);
    write_cr3((u32)pd);
    write_cr0(read_cr0() | 0x80000000u);
    check("paging on, code still runs", 1);

    *VA(3) = 0x12345678;
    check("the CPU set A and D in the PTE", (pt1[3] & 0x60) == 0x60);
    check("and A (not D) in the PDE", (pd[1] & 0x20) && !(pd[1] & 0x40));
    (void)*VA(4);
    check("a read sets A but not D", (pt1[4] & 0x60) == 0x20);

    *phys32(0x200) = 0xcafe0001;
    check("4 MiB page (CR4.PSE) maps 8 MiB onto 0", *phys32(0x800000 + 0x200) == 0xcafe0001);
    check("the 4 MiB PDE got A and D", (pd[2] & 0x60) == 0x20 || (pd[2] & 0x60) == 0x60);

    /* Remap a page: stale until INVLPG. */
    pt1[5] = (0x600000 + 6 * 4096) | 3;
    invlpg((u32)VA(5));
    *VA(6) = 0xabcd;
    check("after INVLPG the new PTE is used", *VA(5) == 0xabcd);
    pt1[5] = (0x600000 + 7 * 4096) | 3;
    write_cr3(read_cr3());
    *VA(7) = 0x7777;
    check("after a CR3 reload the new PTE is used", *VA(5) == 0x7777);

    /* Faults: not present, then write to read-only with WP. */
    pt1[10] &= ~1u;
    invlpg((u32)VA(10));
    pf_count = 0;
    *VA(10) = 42;
    printf("not-present write: error=%x cr2=%08x\n", pf_error, pf_cr2);
    check("#PF not present: P=0 W=1, resumed after the fix", pf_count == 1 && pf_error == 2 && *VA(10) == 42);

    pt1[11] &= ~2u;
    invlpg((u32)VA(11));
    *VA(11) = 1;
    check("WP=0: ring 0 writes a read-only page", pf_count == 1 && *VA(11) == 1);
    write_cr0(read_cr0() | 0x10000);
    pt1[11] &= ~2u;
    invlpg((u32)VA(11));
    *VA(11) = 2;
    printf("read-only write with WP: error=%x cr2=%08x\n", pf_error, pf_cr2);
    check("WP=1: #PF protection P=1 W=1, resumed", pf_count == 2 && pf_error == 3 && *VA(11) == 2);

    write_cr0(read_cr0() & ~0x80010000u);
    check("(paging off) the 4 KiB page's frame holds the write", *phys32(0x600000 + 3 * 4096) == 0x12345678);
    printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
