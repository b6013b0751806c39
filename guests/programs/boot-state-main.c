/* The C side of boot-state: prints what boot-state.S recorded at the kernel's entry. */
#include "../lib/lib.h"

extern u32 st_regs[8], st_eflags, st_cr[4], st_gdt_len, st_a20, st_reloaded;
extern u16 st_sel[8];
extern u8 st_gdtr[8], st_idtr[8], st_gdt[64], st_pic[8], st_pit[8];
extern volatile u32 seen[8], seen_count;
extern u32 st_hw_first, st_rtc_first;

static u32 le32(const u8 *p) { return p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24; }

int main(void)
{
    printf("boot: boot-state\n");
    printf("regs: eax=%08x ebx=%08x ecx=%08x edx=%08x esi=%08x edi=%08x ebp=%08x esp=%08x\n",
           st_regs[0], st_regs[1], st_regs[2], st_regs[3], st_regs[4], st_regs[5], st_regs[6], st_regs[7]);
    printf("eflags=%08x cr0=%08x cr2=%08x cr3=%08x cr4=%08x\n", st_eflags, st_cr[0], st_cr[1], st_cr[2], st_cr[3]);
    printf("cs=%04x ds=%04x es=%04x fs=%04x gs=%04x ss=%04x ldtr=%04x tr=%04x\n",
           st_sel[0], st_sel[1], st_sel[2], st_sel[3], st_sel[4], st_sel[5], st_sel[6], st_sel[7]);
    printf("gdtr=%08x/%04x idtr=%08x/%04x\n", le32(st_gdtr + 2), st_gdtr[0] | st_gdtr[1] << 8, le32(st_idtr + 2), st_idtr[0] | st_idtr[1] << 8);
    for (u32 i = 0; i + 8 <= st_gdt_len; i += 8)
        printf("gdt[%02x]=%08x %08x\n", i, le32(st_gdt + i + 4), le32(st_gdt + i));
    printf("pic: imr=%02x/%02x isr=%02x/%02x elcr=%02x/%02x\n", st_pic[0], st_pic[1], st_pic[2], st_pic[3], st_pic[4], st_pic[5]);
    /* Channel 0's status without OUT (QEMU's mode 2 OUT is low where the datasheet's is
     * high); not channels 1 and 2, which firmware leaves alone (their power-up state is
     * undefined); port 0x61 without its refresh toggle and OUT2, which follow time. */
    printf("pit: ch0 status=%02x port61=%02x port92=%02x a20=%u\n", st_pit[0] & 0x7f, st_pit[3] & 0x0f, st_pit[4], st_a20);
    printf("segments reloaded from the loader's GDT: %s\n", st_reloaded ? "yes" : "no");
    printf("vectors taken:");
    for (u32 i = 0; i < seen_count && i < 8; i++)
        printf(" %02x", seen[i]);
    printf(" (int 0x30, then the first hardware interrupt, then the RTC's)\n");
    const u32 *mbi = (const u32 *)phys32(st_regs[1]);
    /* The information; the loader's name is not printed (ours says vpio, QEMU's qemu). */
    printf("mbi: flags=%08x lower=%u upper=%u boot=%08x cmdline=%08x mods=%u@%08x mmap=%u@%08x name=%08x\n",
           mbi[0], mbi[1], mbi[2], mbi[3], mbi[4], mbi[5], mbi[6], mbi[11], mbi[12], mbi[16]);
    const u8 *m = (const u8 *)phys32(mbi[12]);
    for (u32 off = 0; off < mbi[11];) {
        const u32 *e = (const u32 *)(m + off);
        printf("mmap: size=%u base=%08x%08x len=%08x%08x type=%u\n", e[0], e[2], e[1], e[4], e[3], e[5]);
        off += e[0] + 4;
    }
    printf("cmdline:");
    for (const u8 *p = (const u8 *)mb_cmdline; *p; p++)
        printf(" %02x", *p);
    printf("\n");
    int ok = st_reloaded && seen_count == 3 && seen[0] == 0x30 && st_hw_first == 2 && st_rtc_first == 3;
    printf("%s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
