/* Interrupt and exception entry stubs: push a uniform frame and call isr_dispatch. */
    .text
.macro ISR_NOERR n
    .globl isr\n
isr\n:
    pushl $0
    pushl $\n
    jmp isr_common
.endm
.macro ISR_ERR n
    .globl isr\n
isr\n:
    pushl $\n
    jmp isr_common
.endm

ISR_NOERR 0
ISR_NOERR 1
ISR_NOERR 2
ISR_NOERR 3
ISR_NOERR 4
ISR_NOERR 5
ISR_NOERR 6
ISR_NOERR 7
ISR_ERR   8
ISR_NOERR 9
ISR_ERR   10
ISR_ERR   11
ISR_ERR   12
ISR_ERR   13
ISR_ERR   14
ISR_NOERR 15
ISR_NOERR 16
ISR_ERR   17
ISR_NOERR 18
ISR_NOERR 19
ISR_NOERR 20
ISR_NOERR 21
ISR_NOERR 22
ISR_NOERR 23
ISR_NOERR 24
ISR_NOERR 25
ISR_NOERR 26
ISR_NOERR 27
ISR_NOERR 28
ISR_NOERR 29
ISR_NOERR 30
ISR_NOERR 31
.irp n, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,128,129
ISR_NOERR \n
.endr

isr_common:
    pushal
    pushl %ds
    pushl %es
    pushl %fs
    pushl %gs
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    pushl %esp              /* struct regs * */
    call isr_dispatch       /* returns the frame to resume: another thread's, to switch */
    movl %eax, %esp
    popl %gs
    popl %fs
    popl %es
    popl %ds
    popal
    addl $8, %esp           /* vector and error code */
    iret

    .data
    .globl isr_table
isr_table:
.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .long isr\n
.endr
.irp n, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
    .long isr\n
.endr
    .globl isr_syscall
isr_syscall:
    .long isr128
    .globl isr_yield
isr_yield:
    .long isr129

/*
 * int run_protected(void (*fn)(void)): calls fn; returns 0 if it returned, 1 if a
 * handler resumed at protected_recover (after an expected fault).
 */
    .text
    .globl run_protected
run_protected:
    pushl %ebp
    pushl %ebx
    pushl %esi
    pushl %edi
    movl %esp, protected_esp
    call *20(%esp)
    xorl %eax, %eax
    jmp 1f
    .globl protected_recover
protected_recover:
    /* The interrupted code may have left a null or odd DS: reload before any memory access. */
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl protected_esp, %esp
    movl $1, %eax
1:  popl %edi
    popl %esi
    popl %ebx
    popl %ebp
    ret
    .bss
    .globl protected_esp
protected_esp:
    .long 0

    .section .note.GNU-stack,"",@progbits
