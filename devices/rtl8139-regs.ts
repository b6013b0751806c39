/**
 * The RTL8139C's register map (Realtek, "RTL8139C(L) Single-Chip Fast Ethernet
 * Controller" datasheet rev 1.4, section 5, "Register Descriptions", and its
 * programming guide): offsets in BAR0's I/O space (and BAR1's memory window, which maps
 * the same registers). The one place these numbers are written: the card
 * (`rtl8139.ts`), its VPIO model, the hypervisor's driver and the tests all name
 * registers from here, by their datasheet names.
 */

/** The register block's size in bytes. */
export const RTL8139_PORTS = 0x100;

export const IDR0 = 0x00, MAR0 = 0x08, TSD0 = 0x10, TSAD0 = 0x20, RBSTART = 0x30, ERBCR = 0x34, ERSR = 0x36, CR = 0x37;
export const CAPR = 0x38, CBR = 0x3a, IMR = 0x3c, ISR = 0x3e, TCR = 0x40, RCR = 0x44, TCTR = 0x48, MPC = 0x4c;
export const CR9346 = 0x50, CONFIG0 = 0x51, CONFIG1 = 0x52, TIMERINT = 0x54, MSR = 0x58, CONFIG3 = 0x59, CONFIG4 = 0x5a;
export const MULINT = 0x5c, RERID = 0x5e;
/**
 * HltClk: the clock-halt register of the RTL8129 and the first RTL8139s ('R' runs the
 * clock, 'H' halts it). On the RTL8139C the byte is reserved, but Linux's 8139too writes
 * 'R' there at probe on every chip, before it knows which it has: the card takes the
 * write and does nothing.
 */
export const HLTCLK = 0x5b;
/** Transmit Status of All Descriptors (not TSAD0-3, the transmit addresses). */
export const TSAD = 0x60;
export const BMCR = 0x62, BMSR = 0x64, ANAR = 0x66, ANLPAR = 0x68, ANER = 0x6a, DIS = 0x6c, FCSC = 0x6e, NWAYTR = 0x70;
export const REC = 0x72, CSCR = 0x74, PHY1_PARM = 0x78, TW_PARM = 0x7c, PHY2_PARM = 0x80, CONFIG5 = 0xd8;
/** The wake-up frame masks and CRCs (WAKEUP0-7, LSBCRC0-7): 0x84 up to CONFIG5. */
export const WAKEUP0 = 0x84, WAKEUP_END = 0xd8;
/** The C+ command register: an RTL8139C+ feature; this card is an RTL8139C and refuses it. */
export const CPCR = 0xe0;

// ---- CR ----
export const CR_BUFE = 0x01, CR_TE = 0x04, CR_RE = 0x08, CR_RST = 0x10;

// ---- ISR and IMR ----
export const ISR_ROK = 0x0001, ISR_RER = 0x0002, ISR_TOK = 0x0004, ISR_TER = 0x0008, ISR_RXOVW = 0x0010, ISR_PUN = 0x0020, ISR_FOVW = 0x0040;
/** TCTR reached TimerInt. */
export const ISR_TIMEOUT = 0x4000;

// ---- 9346CR ----
/** EEM1-0 (bits 7-6): 00 normal, 01 auto-load from the EEPROM, 10 EEPROM programming (the pins below), 11 CONFIG writes enabled. */
export const CR9346_EEM = 0xc0, CR9346_AUTOLOAD = 0x40, CR9346_PROGRAM = 0x80, CR9346_UNLOCK = 0xc0;
/** The EEPROM's pins in programming mode: chip select, clock, data in (to the EEPROM), data out (read-only). */
export const CR9346_EECS = 0x08, CR9346_EESK = 0x04, CR9346_EEDI = 0x02, CR9346_EEDO = 0x01;

// ---- The PHY's auto-negotiation registers ----
/** ANAR at power-on: 10/100, half and full duplex, IEEE 802.3 selector. */
export const ANAR_DEFAULT = 0x01e1;
/** What the link partner (the emulated switch) advertises: the same abilities, acknowledged. */
export const ANLPAR_PARTNER = 0x45e1;
/** ANER: the link partner can auto-negotiate. */
export const ANER_LP_NW_ABLE = 0x0001;

// ---- TSD0-3 ----
export const TSD_SIZE = 0x1fff, TSD_OWN = 1 << 13, TSD_TUN = 1 << 14, TSD_TOK = 1 << 15, TSD_TABT = 1 << 30;

// ---- TSAD (0x60): one bit per descriptor, descriptor n at bit n of each nibble ----
export const TSAD_OWN_SHIFT = 0, TSAD_TABT_SHIFT = 4, TSAD_TUN_SHIFT = 8, TSAD_TOK_SHIFT = 12;

// ---- TCR ----
/** CLRABT (bit 0): retransmit an aborted frame; it clears itself. */
export const TCR_CLRABT = 0x00000001;
/** Loopback (LBK1-0, bits 18-17): either bit set. */
export const TCR_LBK = 0x00060000;
/** The hardware version bits (HWVERID_A and _B), read-only, and the RTL8139C's value in them. */
export const TCR_HWVERID_MASK = 0x7cc00000, TCR_HWVERID_8139C = 0x74000000;

// ---- RCR ----
export const RCR_AAP = 0x01, RCR_APM = 0x02, RCR_AM = 0x04, RCR_AB = 0x08, RCR_AR = 0x10, RCR_AER = 0x20, RCR_WRAP = 0x80;
/** The receive buffer length field (RBLEN, bits 12-11): 8 KiB << RBLEN. */
export const RCR_RBLEN_SHIFT = 11;

// ---- The receive header's status word ----
export const RX_ROK = 0x0001, RX_PAM = 0x1000, RX_BAR = 0x2000, RX_MAR = 0x8000;

/** Receive ring bytes for an RCR value (without the 16-byte pad). */
export function ringBytes(rcr: number): number {
  return 8192 << ((rcr >> RCR_RBLEN_SHIFT) & 3);
}
