/*
 * The timer: the PIT on IRQ 0 at 100 Hz through the PIC, a tick counter, and sleep.
 * Prints the tick count at each of five 50-tick sleeps (half a second each), and
 * checks with the PIT's own counter latch that time moves between ticks.
 */
#include "../lib/lib.h"

int main(void)
{
    printf("boot: timer\n");
    pic_init();
    timer_init(100);
    sti();
    u32 start = ticks;
    for (int i = 1; i <= 5; i++) {
        sleep_ticks(50);
        printf("tick %u: %u ticks since start\n", i, ticks - start);
    }
    /* Latch channel 0 twice a little apart: the count must go down (or reload). */
    outb(0x43, 0x00);
    u32 a = inb(0x40);
    a |= inb(0x40) << 8;
    for (volatile int k = 0; k < 1000; k++)
        ;
    outb(0x43, 0x00);
    u32 b = inb(0x40);
    b |= inb(0x40) << 8;
    printf("counter latch: %s\n", a != b ? "moving" : "stuck");
    cli();
    return 0;
}
