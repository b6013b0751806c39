/**
 * The NE2000's register map: the DP8390D's registers (National, "DP8390D/NS32490D NIC
 * Network Interface Controller", "Register Address Map") with the RTL8029AS's page 3,
 * and the NE2000 board's data and reset ports. The one place these numbers are
 * written: the card (`ne2000.ts`), its VPIO model, the hypervisor's driver and the
 * tests all name registers from here.
 *
 * Offsets 0x00-0x0F are the DP8390's registers, four pages of them selected by CR.PS;
 * CR itself is at offset 0 on every page. A register's name carries its page, and its
 * value is `offset | (page << 4)` (the QEMU ne2000.c convention), so a card switches on
 * `offset | (page << 4)`, and `reg & 0x0f` is the port offset. Where a page has a
 * different register for reads and for writes, both names are given (P0_CLDA0 read,
 * P0_PSTART write).
 */

/** The port offset of a page-qualified register (its page is `reg >> 4`). */
export const offsetOf = (reg: number): number => reg & 0x0f;

// ---- Board ports (offsets from the card's base; not paged) ----
/** The command register, on every page. */
export const CR = 0x00;
/** The data port: remote DMA reads and writes (0x10-0x17 all decode to it). */
export const DATA = 0x10;
/** The reset port: a read resets the card (0x18-0x1F). */
export const RESET = 0x18;
/** The register block's size in ports. */
export const NE2000_PORTS = 0x20;

// ---- Page 0 ----
// Read
export const P0_CLDA0 = 0x01, P0_CLDA1 = 0x02, P0_BNRY = 0x03, P0_TSR = 0x04, P0_NCR = 0x05, P0_FIFO = 0x06, P0_ISR = 0x07;
export const P0_CRDA0 = 0x08, P0_CRDA1 = 0x09, P0_8029ID0 = 0x0a, P0_8029ID1 = 0x0b, P0_RSR = 0x0c, P0_CNTR0 = 0x0d, P0_CNTR1 = 0x0e, P0_CNTR2 = 0x0f;
// Write
export const P0_PSTART = 0x01, P0_PSTOP = 0x02, P0_TPSR = 0x04, P0_TBCR0 = 0x05, P0_TBCR1 = 0x06;
export const P0_RSAR0 = 0x08, P0_RSAR1 = 0x09, P0_RBCR0 = 0x0a, P0_RBCR1 = 0x0b, P0_RCR = 0x0c, P0_TCR = 0x0d, P0_DCR = 0x0e, P0_IMR = 0x0f;

// ---- Page 1 (read and write) ----
export const P1_PAR0 = 0x11, P1_CURR = 0x17, P1_MAR0 = 0x18;

// ---- Page 2 (read; diagnostic, not to be written in normal operation) ----
export const P2_PSTART = 0x21, P2_PSTOP = 0x22, P2_RNPP = 0x23, P2_TPSR = 0x24, P2_LNPP = 0x25;
export const P2_RCR = 0x2c, P2_TCR = 0x2d, P2_DCR = 0x2e, P2_IMR = 0x2f;

// ---- Page 3 (RTL8029AS) ----
export const P3_9346CR = 0x31, P3_CONFIG0 = 0x33, P3_CONFIG3 = 0x36;

// ---- CR ----
export const CR_STP = 0x01, CR_STA = 0x02, CR_TXP = 0x04, CR_RD_MASK = 0x38;
export const RD_READ = 0x08, RD_WRITE = 0x10, RD_SEND = 0x18, RD_ABORT = 0x20;
/** CR's page-select field: PS1-0 in bits 7-6. */
export const CR_PAGE_SHIFT = 6;
export const CR_PAGE0 = 0x00, CR_PAGE1 = 0x40, CR_PAGE2 = 0x80, CR_PAGE3 = 0xc0;

// ---- ISR and IMR ----
export const ISR_PRX = 0x01, ISR_PTX = 0x02, ISR_RXE = 0x04, ISR_TXE = 0x08, ISR_OVW = 0x10, ISR_CNT = 0x20, ISR_RDC = 0x40, ISR_RST = 0x80;

// ---- RCR, TCR, DCR ----
export const RCR_SEP = 0x01, RCR_AR = 0x02, RCR_AB = 0x04, RCR_AM = 0x08, RCR_PRO = 0x10, RCR_MON = 0x20;
/** TCR's loopback field (LB1-0). */
export const TCR_LB = 0x06;
/** DCR.WTS: word-wide remote DMA. */
export const DCR_WTS = 0x01;

// ---- RSR, TSR ----
export const RSR_PRX = 0x01, RSR_PHY = 0x20;
export const TSR_PTX = 0x01, TSR_ABT = 0x08;

// ---- The board's memory ----
/** Buffer RAM: pages 0x40-0x7F (16 KiB), as on the NE2000 (and the RTL8029's default). */
export const RAM_START = 0x4000;
export const RAM_END = 0x8000;
/** The station address PROM at card address 0, 32 bytes (each byte doubled in word mode). */
export const PROM_BYTES = 0x20;
