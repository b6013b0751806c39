/** Register numbers in the order the instruction encoding uses (Intel SDM vol. 2, table 2-2). */
export const EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7;
/** Segment registers in encoding order (the `sreg` field of MOV Sw). */
export const ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;
export const REG32_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
export const SREG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];

/** Exception vectors (SDM vol. 3, table 6-1). */
export const DE = 0, DB = 1, NMI = 2, BP = 3, OFV = 4, BR = 5, UD = 6, NM = 7, DFV = 8;
export const TS = 10, NP = 11, SSV = 12, GP = 13, PFV = 14, MF = 16, AC_V = 17;

/** CR0 bits. */
export const CR0_PE = 1, CR0_MP = 2, CR0_EM = 4, CR0_TS = 8, CR0_ET = 0x10, CR0_NE = 0x20;
export const CR0_WP = 0x10000, CR0_AM = 0x40000, CR0_NW = 0x20000000, CR0_CD = 0x40000000, CR0_PG = 0x80000000 | 0;
/** CR4 bits we implement. */
export const CR4_TSD = 4, CR4_DE = 8, CR4_PSE = 0x10, CR4_PAE = 0x20, CR4_PGE = 0x80;

/**
 * Software TLB entry bits (Cpu.tlb: the low 12 bits of an entry; the high 20 are the
 * physical page). An entry grants an access kind only if its bit is set; 0 means "walk
 * the tables". For translated code's inline paths: TLB_RAM, the page is all in RAM (it
 * is read and written in the arrays without a bounds test); TLB_NOCODE, the page holds
 * no translated code (a write needs no test of Cpu.codePages). Cpu keeps TLB_NOCODE
 * true of every entry (codeMarked, invalidateCode, codeFlushed).
 */
export const TLB_SUP_READ = 1, TLB_SUP_WRITE = 2, TLB_USER_READ = 4, TLB_USER_WRITE = 8, TLB_GLOBAL = 16, TLB_RAM = 32, TLB_NOCODE = 64;

/**
 * Cpu.blockMode, the mode translated code is made for: paging on; at CPL 3 (with paging
 * on only); and from bit BLOCK_MODE_SEGS_SHIFT up, one bit (1 << seg) for each of ES,
 * SS and DS that is flat in that mode.
 */
export const BLOCK_MODE_PAGED = 1, BLOCK_MODE_USER = 2, BLOCK_MODE_SEGS_SHIFT = 2;
