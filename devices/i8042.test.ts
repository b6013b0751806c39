/**
 * The 8042 keyboard controller at the register level, from the 8042's command set (the
 * IBM PC AT and PS/2 technical references) and the PS/2 keyboard and mouse protocols,
 * driven the way Linux's i8042 and atkbd drivers probe it.
 */
import { I8042, STATUS_OBF, STATUS_AUXB, STATUS_SYS, STATUS_IBF, CTR_KBDINT, CTR_AUXINT, CTR_KBDDIS, CTR_AUXDIS, CTR_XLATE } from './i8042';

function kbc() {
  const k = new I8042();
  const events: string[] = [];
  k.onIrq = (irq, level) => events.push(`irq${irq}${level ? '+' : '-'}`);
  k.onReset = () => events.push('reset');
  k.onA20 = (on) => events.push(`a20 ${on}`);
  k.firmwareSetup();
  const cmd = (c: number) => k.write(4, 1, c);
  const data = (d: number) => k.write(0, 1, d);
  const status = () => k.read(4, 1);
  /** Every byte waiting, read as a polling driver does (OBF, then the data port). */
  const drain = () => { const out: number[] = []; while (status() & STATUS_OBF) out.push(k.read(0, 1)); return out; };
  return { k, events, cmd, data, status, drain };
}

describe('8042 controller commands', () => {
  it('is quiet after firmware: nothing to read, no interrupt, SYS set, never busy', () => {
    const { events, status } = kbc();
    expect(status() & (STATUS_OBF | STATUS_IBF)).toBe(0);
    expect(status() & STATUS_SYS).toBe(STATUS_SYS);
    expect(events).toEqual([]);
  });

  it('self-test 0xAA answers 0x55; interface tests 0xAB and 0xA9 answer 0x00', () => {
    const { cmd, drain } = kbc();
    cmd(0xaa);
    expect(drain()).toEqual([0x55]);
    cmd(0xab);
    expect(drain()).toEqual([0x00]);
    cmd(0xa9);
    expect(drain()).toEqual([0x00]);
  });

  it('reads and writes the command byte (0x20, 0x60); its SYS bit shows in the status', () => {
    const { cmd, data, drain, status } = kbc();
    cmd(0x20);
    expect(drain()).toEqual([CTR_XLATE | CTR_AUXDIS | CTR_KBDINT]); // SeaBIOS's 0x61
    cmd(0x60); data(0x47);
    cmd(0x20);
    expect(drain()).toEqual([0x47]);
    expect(status() & STATUS_SYS).toBe(STATUS_SYS);
    cmd(0x60); data(0x43);
    expect(status() & STATUS_SYS).toBe(0);
  });

  it('0xAD/0xAE and 0xA7/0xA8 set and clear the ports\' disable bits', () => {
    const { k, cmd } = kbc();
    cmd(0xad); expect(k.ctr & CTR_KBDDIS).toBe(CTR_KBDDIS);
    cmd(0xae); expect(k.ctr & CTR_KBDDIS).toBe(0);
    cmd(0xa8); expect(k.ctr & CTR_AUXDIS).toBe(0);
    cmd(0xa7); expect(k.ctr & CTR_AUXDIS).toBe(CTR_AUXDIS);
  });

  it('0xD3 loops a byte back as mouse data (AUXB) on IRQ 12, as Linux tests the AUX port', () => {
    const { k, cmd, data, status, events } = kbc();
    cmd(0x60); data(k.ctr | CTR_AUXINT);
    cmd(0xa8);
    cmd(0xd3); data(0xa5);
    expect(status() & (STATUS_OBF | STATUS_AUXB)).toBe(STATUS_OBF | STATUS_AUXB);
    expect(events).toEqual(['irq12+']);
    expect(k.read(0, 1)).toBe(0xa5);
    expect(events).toEqual(['irq12+', 'irq12-']);
    expect(status() & STATUS_OBF).toBe(0);
  });

  it('raises IRQ 1 for a keyboard byte only while KBDINT is set, high until the byte is read', () => {
    const { k, cmd, data, events } = kbc();
    cmd(0xd2); data(0x1c); // the keyboard output buffer: as if a key came
    expect(events).toEqual(['irq1+']);
    k.read(0, 1);
    expect(events).toEqual(['irq1+', 'irq1-']);
    cmd(0x60); data(CTR_XLATE); // interrupts off
    cmd(0xd2); data(0x1c);
    expect(events).toEqual(['irq1+', 'irq1-']);
    expect(k.read(0, 1)).toBe(0x1c);
  });

  it('holds keyboard bytes while the keyboard port is disabled, not the controller\'s replies', () => {
    const { cmd, data, drain } = kbc();
    cmd(0xad);
    data(0xf2); // a byte for the keyboard re-enables its port (the 8042 does)
    cmd(0xad);
    expect(drain()).toEqual([0xfa]); // the byte already in the buffer; the rest wait
    cmd(0xaa);
    expect(drain()).toEqual([0x55]);
    cmd(0xae);
    expect(drain()).toEqual([0xab, 0x41]);
  });

  it('0xFE pulses the reset line; 0xFF and 0xFD do not pulse bit 0', () => {
    const { cmd, events } = kbc();
    cmd(0xff);
    cmd(0xfd);
    expect(events).toEqual([]);
    cmd(0xfe);
    expect(events).toEqual(['reset']);
  });

  it('0xD1 writes the output port: bit 1 A20, bit 0 low resets; 0xD0 reads it back', () => {
    const { cmd, data, drain, events: all } = kbc();
    const events = { get list() { return all.filter((e) => !e.startsWith('irq')); } };
    cmd(0xd1); data(0x01); // A20 off, running
    expect(events.list).toEqual(['a20 false']);
    cmd(0xd0);
    expect(drain()).toEqual([0x01]);
    cmd(0xdf);
    expect(events.list).toEqual(['a20 false', 'a20 true']);
    cmd(0xd1); data(0x02); // bit 0 low: reset
    expect(events.list).toEqual(['a20 false', 'a20 true', 'reset']);
  });
});

describe('8042 devices: an idle keyboard and mouse', () => {
  it('the keyboard answers reset, identify (translated or not), LEDs, echo and unknown bytes', () => {
    const { k, cmd, data, drain } = kbc();
    data(0xff); expect(drain()).toEqual([0xfa, 0xaa]);
    data(0xf2); expect(drain()).toEqual([0xfa, 0xab, 0x41]);
    cmd(0x60); data(k.ctr & ~CTR_XLATE);
    data(0xf2); expect(drain()).toEqual([0xfa, 0xab, 0x83]);
    data(0xed); data(0x07); expect(drain()).toEqual([0xfa, 0xfa]);
    data(0xee); expect(drain()).toEqual([0xee]);
    data(0x12); expect(drain()).toEqual([0xfe]);
    data(0xf4); expect(drain()).toEqual([0xfa]);
    expect(drain()).toEqual([]);
  });

  it('the mouse (0xD4) answers reset, identify and status request, with AUXB set', () => {
    const { cmd, data, status, drain } = kbc();
    cmd(0xa8);
    cmd(0xd4); data(0xff);
    expect(status() & STATUS_AUXB).toBe(STATUS_AUXB);
    expect(drain()).toEqual([0xfa, 0xaa, 0x00]);
    cmd(0xd4); data(0xf2); expect(drain()).toEqual([0xfa, 0x00]);
    cmd(0xd4); data(0xf3); cmd(0xd4); data(100); expect(drain()).toEqual([0xfa, 0xfa]);
    cmd(0xd4); data(0xe9); expect(drain()).toEqual([0xfa, 0x00, 0x02, 0x64]);
  });

  it("goes through Linux's i8042 probe and atkbd's identify the way the driver expects", () => {
    const { k, cmd, data, status, drain } = kbc();
    // i8042_controller_check / i8042_flush: nothing to flush.
    expect(drain()).toEqual([]);
    // i8042_controller_selftest.
    cmd(0xaa); expect(drain()).toEqual([0x55]);
    // i8042_controller_init: read the CTR, disable both ports' interrupts, write it back.
    cmd(0x20); const [ctr] = drain();
    expect(ctr & CTR_XLATE).toBe(CTR_XLATE); // so Linux keeps translation ("AT Translated Set 2 keyboard")
    cmd(0x60); data(ctr & ~(CTR_KBDINT | CTR_AUXINT));
    cmd(0x20); expect(drain()).toEqual([ctr & ~(CTR_KBDINT | CTR_AUXINT)]);
    // i8042_check_aux: the AUX loop command echoes its byte as mouse data.
    cmd(0xd3); data(0xf0);
    expect(status() & STATUS_AUXB).toBe(STATUS_AUXB);
    expect(drain()).toEqual([0xf0]);
    // Enable both ports with interrupts; atkbd_probe: GETID.
    cmd(0x60); data((ctr | CTR_KBDINT | CTR_AUXINT) & ~(CTR_KBDDIS | CTR_AUXDIS));
    data(0xf2);
    expect(drain()).toEqual([0xfa, 0xab, 0x41]);
    expect(k.ctr & CTR_KBDINT).toBe(CTR_KBDINT);
    expect(drain()).toEqual([]);
  });
});
