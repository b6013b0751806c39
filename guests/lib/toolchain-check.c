/* Not a guest: the smallest kernel, built by `make toolchain-check` with lib/boot.S the
 * way every guest is built (the same compiler, flags and linker script, no libgcc), so
 * that a test can tell whether this machine can build the guests. It uses the
 * compiler's own <stdarg.h>, as the guests' printf does. */
#include <stdarg.h>

static unsigned sum(int n, ...)
{
    va_list ap;
    unsigned s = 0;
    va_start(ap, n);
    while (n--)
        s += va_arg(ap, unsigned);
    va_end(ap);
    return s;
}

void kernel_entry(unsigned magic, void *info);

void kernel_entry(unsigned magic, void *info)
{
    unsigned char v = (unsigned char)sum(2, magic, (unsigned)(unsigned long)info);
    __asm__ volatile("outb %0, $0xf4" : : "a"(v));
}
