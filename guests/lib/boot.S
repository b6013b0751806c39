/* Multiboot v1 header and entry (Multiboot 0.6.96, section 3.1). */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-align modules, give memory information */

    .section .multiboot
    .align 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .text
    .weak _start            /* a program may bring its own entry (boot-state does) */
_start:
    cli
    movl $stack_top, %esp
    xorl %ebp, %ebp
    pushl %ebx              /* the Multiboot information */
    pushl %eax              /* the magic the loader left */
    call kernel_entry
1:  hlt
    jmp 1b

    .bss
    .align 16
    .globl stack_bottom
stack_bottom:
    .space 32768
    .globl stack_top
stack_top:

    .section .note.GNU-stack,"",@progbits
