/*
 * What firmware leaves for a kernel, read the way Linux reads it, and how the machine
 * ends: the ACPI RSDP found by scanning the BIOS area, the walk to the FADT, the FACS
 * and the DSDT (every checksum), the FADT's PM registers and \_S5's sleep type, the
 * PIIX4 PM function's PMBA, the PM timer running, the 8042 (status, self-test, command
 * byte, the keyboard's identity). Only what QEMU + SeaBIOS and this emulator share is
 * printed (not the tables' addresses, nor the MADT, HPET and WAET QEMU has besides).
 *
 * Then, by the command line: off=1 powers off as Linux's acpi_power_off does (SLP_TYP
 * from \_S5, then SLP_EN, in PM1a_CNT); reset=1 pulses the reset line through the 8042
 * (0xFE to 0x64) as Linux's reboot=kbd; reset=2 resets through 0xCF9 as reboot=pci.
 * Under `qemu-system-i386 -no-reboot` each ends QEMU with status 0; so must vpio run.
 */
#include "../lib/lib.h"

static u8 rd8(u32 a) { return *(volatile u8 *)phys32(a); }
static u16 rd16(u32 a) { return rd8(a) | (rd8(a + 1) << 8); }
static u32 rd32(u32 a) { return *phys32(a); }

static int checksum(u32 a, u32 n)
{
    u8 s = 0;
    for (u32 i = 0; i < n; i++)
        s += rd8(a + i);
    return s;
}

static int sig(u32 a, const char *s)
{
    for (int i = 0; s[i]; i++)
        if (rd8(a + i) != (u8)s[i])
            return 0;
    return 1;
}

static void text(u32 a, int n)
{
    for (int i = 0; i < n; i++)
        putchar(rd8(a + i));
}

/* Linux's acpi_find_root_pointer, for an ACPI 1.0 RSDP: the BIOS area on 16-byte steps. */
static u32 find_rsdp(void)
{
    for (u32 a = 0xe0000; a < 0x100000; a += 16)
        if (sig(a, "RSD PTR ") && checksum(a, 20) == 0)
            return a;
    return 0;
}

/* The sleep type in \_S5: Name (_S5_, Package (n) { SLP_TYPa, ... }), as AML. */
static int s5_type(u32 dsdt)
{
    u32 len = rd32(dsdt + 4);
    for (u32 a = dsdt + 36; a + 8 < dsdt + len; a++) {
        if (rd8(a) != 0x08 || !sig(a + 1, "_S5_") || rd8(a + 5) != 0x12)
            continue;
        u32 p = a + 6;
        p += (rd8(p) >> 6) + 1; /* PkgLength */
        p += 1;                 /* NumElements */
        u8 op = rd8(p);
        if (op == 0x00 || op == 0x01)
            return op;
        if (op == 0x0a)
            return rd8(p + 1);
        return -1;
    }
    return -1;
}

static int kbc_read(void)
{
    for (int i = 0; i < 100000; i++)
        if (inb(0x64) & 1)
            return inb(0x60);
    return -1;
}

static void kbc_command(u8 c)
{
    while (inb(0x64) & 2)
        ;
    outb(0x64, c);
}

/*
 * What a power-off or a reset leaves running: under QEMU both are requests the main loop
 * takes up a moment later, so the guest goes on for a while. It waits a second of the
 * PM timer (3579545 ticks, 24 bits) before it says it is still running, so that the
 * reference does not depend on how soon QEMU got to it.
 */
static void settle(u32 pm_tmr)
{
    u32 waited = 0, last = inl(pm_tmr) & 0xffffff;
    while (waited < 3579545) {
        u32 now = inl(pm_tmr) & 0xffffff;
        waited += (now - last) & 0xffffff;
        last = now;
    }
}

int main(void)
{
    printf("boot: firmware\n");
    u32 rsdp = find_rsdp();
    if (!rsdp) {
        printf("no RSDP\n");
        return 1;
    }
    printf("RSDP revision %u oem ", rd8(rsdp + 15));
    text(rsdp + 9, 6);
    printf("\n");
    u32 rsdt = rd32(rsdp + 16), fadt = 0;
    printf("RSDT checksum %s, revision %u\n", checksum(rsdt, rd32(rsdt + 4)) ? "bad" : "ok", rd8(rsdt + 8));
    for (u32 e = rsdt + 36; e < rsdt + rd32(rsdt + 4); e += 4)
        if (sig(rd32(e), "FACP"))
            fadt = rd32(e);
    if (!fadt) {
        printf("no FADT\n");
        return 1;
    }
    printf("FADT length %u revision %u checksum %s oem ", rd32(fadt + 4), rd8(fadt + 8), checksum(fadt, rd32(fadt + 4)) ? "bad" : "ok");
    text(fadt + 10, 6);
    text(fadt + 16, 8);
    printf("\n");
    printf("  SCI %u PM1a_EVT 0x%x/%u PM1a_CNT 0x%x/%u PM_TMR 0x%x/%u century 0x%x flags 0x%x\n",
           rd16(fadt + 46), rd32(fadt + 56), rd8(fadt + 88), rd32(fadt + 64), rd8(fadt + 89), rd32(fadt + 76), rd8(fadt + 91),
           rd8(fadt + 108), rd32(fadt + 112));
    u32 facs = rd32(fadt + 36), dsdt = rd32(fadt + 40);
    printf("FACS %s length %u aligned %s\n", sig(facs, "FACS") ? "found" : "missing", rd32(facs + 4), facs % 64 ? "no" : "yes");
    printf("DSDT %s revision %u checksum %s\n", sig(dsdt, "DSDT") ? "found" : "missing", rd8(dsdt + 8), checksum(dsdt, rd32(dsdt + 4)) ? "bad" : "ok");
    int s5 = s5_type(dsdt);
    printf("\\_S5 sleep type %d\n", s5);

    u32 pmba = pci_read32(0, 1, 3, 0x40);
    printf("PIIX4 PM: PMBA 0x%x PMIOSE %u irq %u\n", pmba, pci_read32(0, 1, 3, 0x80) & 1, pci_read32(0, 1, 3, 0x3c) & 0xff);
    u32 pm_tmr = rd32(fadt + 76);
    u32 t0 = inl(pm_tmr) & 0xffffff;
    for (int i = 0; i < 1000; i++)
        inb(0x80);
    u32 t1 = inl(pm_tmr) & 0xffffff;
    printf("PM timer advances: %s\n", ((t1 - t0) & 0xffffff) > 0 ? "yes" : "no");

    printf("8042 status: OBF %u SYS %u\n", inb(0x64) & 1, (inb(0x64) >> 2) & 1);
    kbc_command(0xaa);
    printf("8042 self-test 0x%x\n", kbc_read());
    kbc_command(0x20);
    int ctr = kbc_read();
    printf("8042 command byte 0x%x\n", ctr);
    kbc_command(0x60);
    outb(0x60, ctr & ~3); /* no interrupts while we poll */
    outb(0x60, 0xf2);
    int a = kbc_read(), b = kbc_read(), c = kbc_read();
    printf("keyboard identify 0x%x 0x%x 0x%x\n", a, b, c);
    kbc_command(0x60);
    outb(0x60, ctr);

    u32 pm1a_cnt = rd32(fadt + 64);
    if (cmdline_uint("off", 0) && s5 >= 0) {
        printf("powering off\n");
        u16 cnt = inw(pm1a_cnt) & ~(0x1c00 | 0x2000);
        outw(pm1a_cnt, cnt | (s5 << 10));
        outw(pm1a_cnt, cnt | (s5 << 10) | 0x2000);
        settle(pm_tmr);
        printf("still running\n");
        return 2;
    }
    u32 reset = cmdline_uint("reset", 0);
    if (reset == 1) {
        printf("resetting through the 8042\n");
        kbc_command(0xfe);
        settle(pm_tmr);
        printf("still running\n");
        return 2;
    }
    if (reset == 2) {
        printf("resetting through 0xcf9\n");
        outb(0xcf9, 0x02);
        outb(0xcf9, 0x06);
        settle(pm_tmr);
        printf("still running\n");
        return 2;
    }
    return 0;
}
