/*
 * boot-state: the machine as the Multiboot loader hands it over, and a kernel that
 * relies on it. This _start replaces the library's (boot.S has a weak one): before
 * anything else it records the registers, EFLAGS, the control registers, the segment
 * selectors, GDTR, IDTR, LDTR, TR, the loader's GDT, the PICs' masks and in-service
 * registers, the ELCR, the PIT's status bytes, ports 0x61 and 0x92, and whether A20 is
 * on. Then, still on the loader's GDT, it reloads DS, ES, FS, GS and SS with 0x10 and
 * CS with 0x08, loads a minimal IDT (a stub per vector that records its number), takes
 * INT 0x30, then the first hardware interrupt with the PICs and the PIT as the
 * firmware left them, then the RTC's periodic interrupt on the slave PIC (IRQ 0 masked,
 * IRQ 2 and 8 unmasked). Only then does it enter the library (kernel_entry), whose
 * main (boot-state-main.c) prints what was recorded.
 */
    .set STUB_SIZE, 10

    .text
    .globl _start
_start:
    /* Registers first, through DS as the loader left it (no flags change). */
    movl %eax, st_regs + 0
    movl %ebx, st_regs + 4
    movl %ecx, st_regs + 8
    movl %edx, st_regs + 12
    movl %esi, st_regs + 16
    movl %edi, st_regs + 20
    movl %ebp, st_regs + 24
    movl %esp, st_regs + 28
    movl $probe_stack_top, %esp
    pushfl
    popl st_eflags
    movl %cr0, %eax
    movl %eax, st_cr + 0
    movl %cr2, %eax
    movl %eax, st_cr + 4
    movl %cr3, %eax
    movl %eax, st_cr + 8
    movl %cr4, %eax
    movl %eax, st_cr + 12
    movw %cs, st_sel + 0
    movw %ds, st_sel + 2
    movw %es, st_sel + 4
    movw %fs, st_sel + 6
    movw %gs, st_sel + 8
    movw %ss, st_sel + 10
    sldt st_sel + 12
    str st_sel + 14
    sgdt st_gdtr
    sidt st_idtr

    /* The loader's GDT, at most 8 descriptors of it. */
    movl st_gdtr + 2, %esi
    movzwl st_gdtr, %ecx
    incl %ecx
    cmpl $64, %ecx
    jbe 1f
    movl $64, %ecx
1:  movl %ecx, st_gdt_len
    movl $st_gdt, %edi
    cld
    rep movsb

    /* The interrupt controllers: IMR, ISR (OCW3 read ISR, then back to IRR), ELCR. */
    inb $0x21, %al
    movb %al, st_pic + 0
    inb $0xa1, %al
    movb %al, st_pic + 1
    movb $0x0b, %al
    outb %al, $0x20
    outb %al, $0xa0
    inb $0x20, %al
    movb %al, st_pic + 2
    inb $0xa0, %al
    movb %al, st_pic + 3
    movb $0x0a, %al
    outb %al, $0x20
    outb %al, $0xa0
    movw $0x4d0, %dx
    inb %dx, %al
    movb %al, st_pic + 4
    incw %dx
    inb %dx, %al
    movb %al, st_pic + 5

    /* The PIT: a read-back of the three channels' status bytes (no count latched). */
    movb $0xee, %al
    outb %al, $0x43
    inb $0x40, %al
    movb %al, st_pit + 0
    inb $0x41, %al
    movb %al, st_pit + 1
    inb $0x42, %al
    movb %al, st_pit + 2
    inb $0x61, %al
    movb %al, st_pit + 3
    inb $0x92, %al
    movb %al, st_pit + 4

    /* A20: a write to a20_probe (above 1 MiB) must not show 1 MiB lower. */
    movl $a20_probe, %ebx
    movl -0x100000(%ebx), %eax
    notl %eax
    movl %eax, (%ebx)
    xorl %ecx, %ecx
    cmpl -0x100000(%ebx), %eax
    setne %cl
    movl %ecx, st_a20

    /* Rely on the loader's GDT: reload every segment register from it. */
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    ljmp $0x08, $2f
2:  movl $1, st_reloaded

    /* A minimal IDT: gate v goes to stub v, 32-bit interrupt gates, selector 0x08. */
    movl $probe_idt, %edi
    movl $stubs, %edx
    xorl %ecx, %ecx
3:  movl %edx, %eax
    andl $0xffff, %eax
    orl $0x00080000, %eax
    movl %eax, (%edi)
    movl %edx, %eax
    andl $0xffff0000, %eax
    orl $0x8e00, %eax
    movl %eax, 4(%edi)
    addl $8, %edi
    addl $STUB_SIZE, %edx
    incl %ecx
    cmpl $256, %ecx
    jb 3b
    lidt probe_idtr

    /* A software interrupt, through that IDT and the loader's code segment. */
    int $0x30

    /* The first hardware interrupt, with the PICs and the PIT as the firmware left them. */
    movl seen_count, %ebx
    sti
4:  hlt
    cmpl seen_count, %ebx
    je 4b
    cli
    movl seen_count, %eax
    movl %eax, st_hw_first

    /* The RTC's periodic interrupt (IRQ 8, on the slave), with IRQ 0 masked. */
    inb $0x21, %al
    orb $0x01, %al
    andb $0xfb, %al
    outb %al, $0x21
    inb $0xa1, %al
    andb $0xfe, %al
    outb %al, $0xa1
    movb $0x0c, %al
    outb %al, $0x70
    inb $0x71, %al
    movb $0x0b, %al
    outb %al, $0x70
    inb $0x71, %al
    orb $0x40, %al
    movb %al, %ah
    movb $0x0b, %al
    outb %al, $0x70
    movb %ah, %al
    outb %al, $0x71
    movl seen_count, %ebx
    sti
5:  hlt
    cmpl seen_count, %ebx
    je 5b
    cli
    movl seen_count, %eax
    movl %eax, st_rtc_first
    movb $0x0b, %al
    outb %al, $0x70
    inb $0x71, %al
    andb $0xbf, %al
    movb %al, %ah
    movb $0x0b, %al
    outb %al, $0x70
    movb %ah, %al
    outb %al, $0x71
    movb $0x0c, %al
    outb %al, $0x70
    inb $0x71, %al

    /* Into the library, as boot.S would: its stack, then kernel_entry(magic, info). */
    movl $stack_top, %esp
    xorl %ebp, %ebp
    pushl st_regs + 4
    pushl st_regs + 0
    call kernel_entry
6:  hlt
    jmp 6b

/* Stub v: push v, jump to the common handler (10 bytes each, whatever v is). */
    .align 16
stubs:
    .set v, 0
    .rept 256
    .byte 0x68
    .long v
    .byte 0xe9
    .long common - (. + 4)
    .set v, v + 1
    .endr

/* Records the vector (up to 8 of them), sends a non-specific EOI to both PICs after a
 * hardware interrupt (one with nothing in service ignores it), and returns. A stub for a vector with an error code would leave the frame wrong;
 * nothing here raises one. */
common:
    pushl %eax
    pushl %ebx
    movl 8(%esp), %eax
    movl seen_count, %ebx
    cmpl $8, %ebx
    jae 7f
    movl %eax, seen(, %ebx, 4)
7:  incl seen_count
    cmpl $0x30, %eax
    je 8f
    movb $0x20, %al
    outb %al, $0xa0
    outb %al, $0x20
8:  popl %ebx
    popl %eax
    addl $4, %esp
    iret

    .data
    .align 4
probe_idtr:
    .word 256 * 8 - 1
    .long probe_idt
    .align 4
    .globl st_regs, st_eflags, st_cr, st_sel, st_gdtr, st_idtr, st_gdt, st_gdt_len
    .globl st_pic, st_pit, st_a20, st_reloaded, seen, seen_count, st_hw_first, st_rtc_first
st_regs: .space 32
st_eflags: .long 0
st_cr: .space 16
st_sel: .space 16
st_gdtr: .space 8
st_idtr: .space 8
st_gdt: .space 64
st_gdt_len: .long 0
st_pic: .space 8
st_pit: .space 8
st_a20: .long 0
st_reloaded: .long 0
seen: .space 32
seen_count: .long 0
st_hw_first: .long 0
st_rtc_first: .long 0
a20_probe: .long 0

    .bss
    .align 8
probe_idt:
    .space 256 * 8
    .align 16
    .space 1024
probe_stack_top:

    .section .note.GNU-stack,"",@progbits
