/* The first guest: proves the boot path, the console and the exit status. */
#include "../lib/lib.h"

int main(void)
{
    printf("boot: hello\n");
    printf("Hello from a Multiboot guest kernel.\n");
    printf("memory above 1 MiB: %u KiB\n", mb_mem_upper);
    printf("command line: '%s'\n", mb_cmdline);
    printf("printf check: %d %u %x %08x %c %s\n", -42, 42u, 0xbeefu, 0x1234u, 'z', "ok");
    return 0;
}
