/*
 * Kernel threads: four threads preempted by the 100 Hz timer compute sums (long enough
 * to span several ticks, here and under QEMU), then two
 * threads ping-pong with explicit yields. The output does not depend on when the timer
 * fires: only results and the order of cooperative steps are printed.
 */
#include "../lib/lib.h"

static volatile u32 results[4];

static void worker(void *arg)
{
    u32 n = (u32)arg;
    u32 sum = 0;
    for (u32 i = 0; i < 4000000 * (n + 1); i++)
        sum += i ^ n;
    results[n] = sum;
}

static volatile int turn;

static void ping(void *arg)
{
    int me = (int)(u32)arg;
    for (int round = 0; round < 3; round++) {
        while (turn != me)
            thread_yield();
        printf("%s %d\n", me ? "pong" : "ping", round);
        turn = 1 - me;
    }
}

int main(void)
{
    printf("boot: threads\n");
    pages_init();
    pic_init();
    timer_init(100);
    sti();
    u32 before = pages_free();
    for (u32 t = 0; t < 4; t++)
        thread_create(worker, (void *)t);
    thread_join_all();
    for (int t = 0; t < 4; t++)
        printf("thread %d sum %08x\n", t, results[t]);
    printf("preempted by the timer: %s\n", preemptions > 0 ? "yes" : "no");
    thread_create(ping, (void *)0);
    thread_create(ping, (void *)1);
    thread_join_all();
    printf("pages used by 6 thread stacks: %u\n", before - pages_free());
    cli();
    return 0;
}
