/**
 * A 93C46 serial EEPROM in its 64 x 16-bit organisation (Microchip 93LC46B / Atmel
 * AT93C46 datasheets), as the RTL8139C reaches it through 9346CR: chip select, a clock
 * driven by software, data in and data out. Every instruction is a start bit (the
 * first 1 clocked in with CS high), a 2-bit opcode and a 6-bit address:
 *
 *   READ  10 aaaaaa  DO gives a dummy 0, then D15..D0 on each following rising clock;
 *                    clocking on reads the next words in order (sequential read)
 *   WRITE 01 aaaaaa + 16 data bits   (only after EWEN)
 *   ERASE 11 aaaaaa                  the word becomes 0xFFFF (only after EWEN)
 *   EWEN  00 11xxxx / EWDS 00 00xxxx  write enable / disable (disabled at power-on)
 *   WRAL  00 01xxxx + 16 data bits / ERAL 00 10xxxx   every word (only after EWEN)
 *
 * Dropping CS ends any instruction. Writes complete at once (the part's 2 ms
 * programming time is not modelled: DO reads ready). Plain numbers and one typed array,
 * so a card's saved context can carry a copy (`clone`).
 */
export const EEPROM_WORDS = 64;

const IDLE = 0, COMMAND = 1, READING = 2, DATA_IN = 3;
const OP_EXT = 0, OP_WRITE = 1, OP_READ = 2, OP_ERASE = 3;

export class Eeprom93c46 {
  readonly words: Uint16Array;
  /** Writes and erases allowed (EWEN). */
  writeEnabled = false;
  private phase = IDLE;
  /** Bits clocked in for the current command (opcode and address) or data word. */
  private bits = 0;
  private shift = 0;
  private opcode = 0;
  private address = 0;
  /** The word being shifted out and how many of its bits are left. */
  private out = 0;
  private outLeft = 0;
  private cs = false;
  private sk = false;
  /** The DO pin. */
  dataOut = true;

  constructor(words?: ArrayLike<number>) {
    this.words = new Uint16Array(EEPROM_WORDS);
    if (words) this.words.set(Array.from(words).slice(0, EEPROM_WORDS));
  }

  clone(): Eeprom93c46 {
    const c = new Eeprom93c46(this.words);
    c.writeEnabled = this.writeEnabled;
    c.phase = this.phase; c.bits = this.bits; c.shift = this.shift; c.opcode = this.opcode; c.address = this.address;
    c.out = this.out; c.outLeft = this.outLeft; c.cs = this.cs; c.sk = this.sk; c.dataOut = this.dataOut;
    return c;
  }

  /** The pins as software drives them; a rising SK with CS high clocks one bit. */
  drive(cs: boolean, sk: boolean, di: boolean): void {
    if (!cs) {
      // CS low: whatever was going on ends; DO floats (reads as 1 on the RTL8139's pull-up).
      this.phase = IDLE;
      this.cs = false;
      this.sk = sk;
      this.dataOut = true;
      return;
    }
    const rising = sk && !this.sk;
    this.cs = true;
    this.sk = sk;
    if (rising) this.clock(di ? 1 : 0);
  }

  private clock(bit: number): void {
    switch (this.phase) {
      case IDLE:
        if (bit) { this.phase = COMMAND; this.bits = 0; this.shift = 0; } // the start bit
        return;
      case COMMAND:
        this.shift = (this.shift << 1) | bit;
        if (++this.bits < 8) return;
        this.opcode = this.shift >> 6;
        this.address = this.shift & 0x3f;
        this.command();
        return;
      case READING:
        // Each rising edge puts the next bit on DO; after D0 the next word follows.
        if (this.outLeft === 0) { this.address = (this.address + 1) & 0x3f; this.out = this.words[this.address]; this.outLeft = 16; }
        this.outLeft--;
        this.dataOut = ((this.out >> this.outLeft) & 1) !== 0;
        return;
      case DATA_IN:
        this.shift = ((this.shift << 1) | bit) & 0xffff;
        if (++this.bits < 16) return;
        if (this.opcode === OP_WRITE) this.words[this.address] = this.shift;
        else this.words.fill(this.shift); // WRAL
        this.phase = IDLE;
        this.dataOut = true; // ready
        return;
    }
  }

  private command(): void {
    switch (this.opcode) {
      case OP_READ:
        this.phase = READING;
        this.out = this.words[this.address];
        this.outLeft = 16;
        this.dataOut = false; // the dummy 0 before D15
        return;
      case OP_WRITE:
        if (!this.writeEnabled) { this.phase = IDLE; return; }
        this.phase = DATA_IN; this.bits = 0; this.shift = 0;
        return;
      case OP_ERASE:
        if (this.writeEnabled) this.words[this.address] = 0xffff;
        this.phase = IDLE;
        return;
      case OP_EXT:
        switch (this.address >> 4) {
          case 0: this.writeEnabled = false; break; // EWDS
          case 3: this.writeEnabled = true; break; // EWEN
          case 2: if (this.writeEnabled) this.words.fill(0xffff); break; // ERAL
          case 1: // WRAL
            if (this.writeEnabled) { this.phase = DATA_IN; this.bits = 0; this.shift = 0; return; }
            break;
        }
        this.phase = IDLE;
        return;
    }
  }
}
