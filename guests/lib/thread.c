/*
 * Kernel threads in the spirit of GeekOS: each thread has a page of stack; its saved
 * context is the interrupt frame it was switched out on. The timer interrupt (IRQ 0)
 * and thread_yield (int 0x81) enter the scheduler, which picks the next runnable
 * thread round-robin and resumes its frame.
 */
#include "lib.h"

#define MAX_THREADS 16

struct thread {
    struct regs *frame;
    int state;          /* 0 free, 1 runnable, 2 exited */
    void *stack;
};

static struct thread threads[MAX_THREADS] = { { 0, 1, 0 } }; /* thread 0: the boot thread */
static int current;
volatile u32 preemptions;
extern struct regs *(*schedule_hook)(struct regs *r, int preempt);

static struct regs *schedule(struct regs *r, int preempt)
{
    threads[current].frame = r;
    int next = current;
    for (int i = 1; i <= MAX_THREADS; i++) {
        int t = (current + i) % MAX_THREADS;
        if (threads[t].state == 1) {
            next = t;
            break;
        }
    }
    if (next != current && preempt)
        preemptions++;
    current = next;
    return threads[current].frame;
}

static void thread_start(void (*fn)(void *), void *arg)
{
    fn(arg);
    thread_exit();
}

int thread_create(void (*fn)(void *), void *arg)
{
    schedule_hook = schedule;
    for (int t = 1; t < MAX_THREADS; t++) {
        if (threads[t].state != 0)
            continue;
        u8 *stack = page_alloc();
        if (!stack)
            return -1;
        /* The first "return from interrupt" into the thread lands in thread_start(fn, arg). */
        u32 *sp = (u32 *)(stack + 4096);
        *--sp = (u32)arg;
        *--sp = (u32)fn;
        *--sp = 0;                       /* thread_start's return address: never used */
        struct regs *f = (struct regs *)((u8 *)sp - 17 * 4);
        memset(f, 0, 17 * 4);
        f->gs = f->fs = f->es = f->ds = KERNEL_DS;
        f->eip = (u32)thread_start;
        f->cs = KERNEL_CS;
        f->eflags = 0x202;
        threads[t].frame = f;
        threads[t].stack = stack;
        threads[t].state = 1;
        return t;
    }
    return -1;
}

void thread_yield(void)
{
    __asm__ volatile("int $0x81" ::: "memory");
}

void thread_exit(void)
{
    cli();
    threads[current].state = 2;
    for (;;)
        thread_yield();
}

void thread_join_all(void)
{
    for (;;) {
        int live = 0;
        for (int t = 1; t < MAX_THREADS; t++)
            live += threads[t].state == 1;
        if (!live)
            return;
        thread_yield();
    }
}

int thread_current(void)
{
    return current;
}
