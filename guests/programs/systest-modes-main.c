/* The C side of systest-modes (the switches themselves are in systest-modes.S). */
#include "../lib/lib.h"

void go_real_and_back(void);

int main(void)
{
    printf("boot: systest-modes\n");
    gdt_set(6, 0x8000, 0xffff, 0x9a, 0x0); /* 0x30: 16-bit code, base 0x8000 */
    gdt_set(7, 0, 0xffff, 0x92, 0x0);      /* 0x38: 16-bit data, base 0 */
    printf("32-bit protected mode: CR0=%08x\n", read_cr0() & 0x8000001fu);
    go_real_and_back();
    volatile u16 *r = (volatile u16 *)phys32(0x7000);
    int ok = r[0] == 0x2110 && r[1] == 0x0800 && r[2] == 0xbeef && r[3] == 10;
    printf("16-bit protected mode sum: %04x\n", r[0]);
    printf("real mode CS: %04x\n", r[1]);
    printf("real mode ES:0010 read back: %04x\n", r[2]);
    printf("real mode int 0x60 result: %u\n", r[3]);
    printf("real mode FLAGS: %04x\n", r[4] & 0x0fd5);
    printf("back in 32-bit protected mode: CR0=%08x\n", read_cr0() & 0x8000001fu);
    printf("%s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
