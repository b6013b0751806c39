/**
 * System control port A at 0x92 ("fast A20" on PS/2 and every PIIX-class chipset):
 * bit 1 drives the A20 gate, bit 0 written as 1 pulses a CPU reset. Reads return the
 * last value written, with bit 0 reading as zero once the reset is done.
 */
export class Port92 {
  value = 0x02; // A20 enabled: a Multiboot loader hands over with A20 on
  onA20: (enabled: boolean) => void = () => {};
  onReset: () => void = () => {};

  reset(): void {
    this.value = 0x02;
    this.onA20(true);
  }

  read(): number {
    return this.value;
  }

  write(v: number): void {
    const a20 = (v & 2) !== 0;
    const changed = a20 !== ((this.value & 2) !== 0);
    this.value = v & 0xfe;
    if (changed) this.onA20(a20);
    if (v & 1) this.onReset();
  }
}
