/*
 * Mode switches (SDM vol. 3, 9.9): from 32-bit protected mode to a 16-bit protected
 * mode code segment, then to real mode (PE cleared), computations and a software
 * interrupt through the real-mode IVT there, then back to 32-bit protected mode.
 * The 16-bit code is copied to 0x8000 and runs with CS base 0x8000 in both modes.
 * Results are left at 0x7000 for the C side (systest-modes-main.c) to print.
 */
    .set BLOB, 0x8000
    .set RESULTS, 0x7000

    .text
    .globl go_real_and_back
go_real_and_back:
    pushal
    movl %esp, saved_esp
    sidt saved_idt
    /* copy the 16-bit blob to 0x8000 */
    movl $blob_start, %esi
    movl $BLOB, %edi
    movl $(blob_end - blob_start), %ecx
    cld
    rep movsb
    movl $back32, BLOB + (ret_ptr - blob_start)
    lidt real_ivt
    ljmp $0x30, $0                      /* 16-bit code segment, base 0x8000 */
back32:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl saved_esp, %esp
    lidt saved_idt
    popal
    ret

    .data
saved_esp: .long 0
saved_idt: .word 0
           .long 0
real_ivt:  .word 0x3ff
           .long 0

    .text
    .code16
blob_start:
    /* 16-bit protected mode: operand size 16 by default */
    movw $0x38, %ax                     /* 16-bit data segment, base 0, limit 0xffff */
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw $0x6ff0, %sp
    movw $0x1234, %ax
    addw $0x0edc, %ax                   /* 0x2110 */
    movw %ax, RESULTS                   /* [0] the 16-bit PM sum */
    movl %cr0, %eax
    andl $0xfffffffe, %eax
    movl %eax, %cr0                     /* real mode */
    ljmp $(BLOB >> 4), $(real_mode - blob_start)
real_mode:
    xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %ss
    movw $0x6ff0, %sp
    movw %cs, RESULTS + 2               /* [2] CS in real mode: 0x0800 */
    movw $0x1000, %ax
    movw %ax, %es
    movw $0xbeef, %es:0x0010            /* linear 0x10010 */
    movw 0x0010 + 0x10000 - 0x10000, %bx
    movw %es:0x0010, %bx
    movw %bx, RESULTS + 4               /* [4] read back through ES */
    /* a real-mode interrupt: IVT[0x60] -> int_handler */
    movw $(int_handler - blob_start), 0x60 * 4
    movw %cs, 0x60 * 4 + 2
    movw $5, %cx
    int $0x60
    movw %cx, RESULTS + 6               /* [6] the handler doubled it: 10 */
    pushfw
    popw %ax
    movw %ax, RESULTS + 8               /* [8] real-mode FLAGS after IRET */
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0                     /* protected mode again */
    ljmpl *%cs:(ret_ptr - blob_start)
int_handler:
    addw %cx, %cx
    iret
ret_ptr:
    .long 0
    .word 0x08
blob_end:
    .code32

    .section .note.GNU-stack,"",@progbits
