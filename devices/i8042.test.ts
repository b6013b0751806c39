/**
 * The 8042 keyboard controller at the register level, from the 8042's command set (the
 * IBM PC AT and PS/2 technical references) and the PS/2 keyboard and mouse protocols,
 * driven the way Linux's i8042 and atkbd drivers probe it.
 */
import { DualPic } from './pic8259';
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
    data(0xed); expect(drain()).toEqual([0xfa]); data(0x07); expect(drain()).toEqual([0xfa]);
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

/**
 * Linux reads the 8042 from its interrupt handler, one byte per interrupt
 * (i8042_interrupt: the status, then the data port), behind an edge-triggered 8259A:
 * each byte must raise its own edge on IRQ 1 (keyboard) or IRQ 12 (mouse). The
 * sequences are the ones the Debian 12 i386 kernel sends (the controller probe, atkbd
 * on both ports, the AUX port's close, atkbd_cleanup and i8042_controller_reset at
 * power-off), as QEMU's pckbd trace (`-d trace:pckbd_*,trace:ps2_*`) shows them.
 */
function linuxKbc() {
  const t = kbc();
  const pic = new DualPic();
  pic.reset();
  pic.write(0x20, 0x11); pic.write(0x21, 0x20); pic.write(0x21, 0x04); pic.write(0x21, 0x01);
  pic.write(0xa0, 0x11); pic.write(0xa1, 0x28); pic.write(0xa1, 0x02); pic.write(0xa1, 0x01);
  pic.write(0x21, 0x00); pic.write(0xa1, 0x00);
  t.k.onIrq = (irq, level) => { t.events.push(`irq${irq}${level ? '+' : '-'}`); pic.setIrq(irq, level); };
  const hex = (b: number) => b.toString(16).padStart(2, '0');
  /** What the interrupt handler read: "kbd fa irq1", "aux 00 irq12", or "irq1 empty". */
  const handled: string[] = [];
  /** Runs the CPU's interrupt cycles until no request is left (as if interrupts were on). */
  const interrupts = () => {
    for (let n = 0; pic.intr && n < 64; n++) {
      const vector = pic.acknowledge();
      const irq = vector >= 0x28 ? vector - 0x28 + 8 : vector - 0x20;
      const st = t.status();
      if (st & STATUS_OBF) handled.push(`${st & STATUS_AUXB ? 'aux' : 'kbd'} ${hex(t.k.read(0, 1))} irq${irq}`);
      else handled.push(`irq${irq} empty`);
      if (irq >= 8) pic.write(0xa0, 0x20);
      pic.write(0x20, 0x20);
    }
    return handled.splice(0);
  };
  /** i8042_command(WCTR): the controller command, then the byte, polled. */
  const wctr = (v: number) => { t.cmd(0x60); t.data(v); };
  /** i8042_aux_write: 0xD4, then the byte for the mouse. */
  const aux = (b: number) => { t.cmd(0xd4); t.data(b); };
  return { ...t, pic, interrupts, wctr, aux };
}

describe('8042 under an interrupt-driven driver (Linux i8042, atkbd, libps2)', () => {
  it('raises a new IRQ 1 edge for each byte of a multi-byte reply', () => {
    const { k, data, events } = kbc();
    data(0xf2); // GETID: FA AB 41
    expect(events).toEqual(['irq1+']);
    expect(k.read(0, 1)).toBe(0xfa);
    expect(events).toEqual(['irq1+', 'irq1-', 'irq1+']);
    expect(k.read(0, 1)).toBe(0xab);
    expect(events).toEqual(['irq1+', 'irq1-', 'irq1+', 'irq1-', 'irq1+']);
    expect(k.read(0, 1)).toBe(0x41);
    expect(events).toEqual(['irq1+', 'irq1-', 'irq1+', 'irq1-', 'irq1+', 'irq1-']);
  });

  it("atkbd_probe and atkbd's setup on the keyboard port: every answer arrives on IRQ 1", () => {
    const { wctr, data, interrupts } = linuxKbc();
    wctr(0x43); // i8042_enable_kbd_port / aux port: both interrupts, translation, SYS
    data(0xf2); expect(interrupts()).toEqual(['kbd fa irq1', 'kbd ab irq1', 'kbd 41 irq1']);
    data(0xf5); expect(interrupts()).toEqual(['kbd fa irq1']);
    data(0xed); expect(interrupts()).toEqual(['kbd fa irq1']);
    data(0x00); expect(interrupts()).toEqual(['kbd fa irq1']);
    data(0xf3); expect(interrupts()).toEqual(['kbd fa irq1']);
    data(0x00); expect(interrupts()).toEqual(['kbd fa irq1']);
    data(0xf4); expect(interrupts()).toEqual(['kbd fa irq1']);
  });

  it('atkbd on the AUX port, the port close, then power-off (atkbd_cleanup, controller reset)', () => {
    const { k, wctr, data, aux, status, interrupts, events } = linuxKbc();
    wctr(0x43);
    // atkbd_probe on the AUX port: GETID answers a mouse's FA 00, both as AUX data on IRQ 12.
    aux(0xf2); expect(interrupts()).toEqual(['aux fa irq12', 'aux 00 irq12']);
    // i8042_port_close(AUX): interrupt off, then on with the port enabled; nothing arrives.
    wctr(0x41); wctr(0x43);
    expect(interrupts()).toEqual([]);
    expect(status() & STATUS_OBF).toBe(0);
    // Power-off: atkbd_cleanup resets the keyboard to defaults (F6); its ACK on IRQ 1.
    data(0xf6); expect(interrupts()).toEqual(['kbd fa irq1']);
    // i8042_controller_reset: both ports off, interrupts off, then the firmware's CTR.
    wctr(0x70); wctr(0x61);
    expect(interrupts()).toEqual([]);
    expect(k.ctr).toBe(0x61);
    expect(status() & STATUS_OBF).toBe(0);
    expect(events.slice(-1)[0]).toMatch(/-$/); // every line left low
  });

  it('a command reply overtakes device bytes not yet in the output buffer (as QEMU)', () => {
    const { cmd, data, drain } = kbc();
    data(0xf2);
    cmd(0x20);
    expect(drain()).toEqual([0xfa, 0x61, 0xab, 0x41]);
  });
});

describe('8042 ports disabled, as QEMU\'s pckbd', () => {
  it('a byte for the mouse (0xD4) re-enables the AUX port and its answer comes', () => {
    const { k, cmd, data, drain } = kbc();
    expect(k.ctr & CTR_AUXDIS).toBe(CTR_AUXDIS); // as the firmware leaves it
    cmd(0xd4); data(0xf2);
    expect(k.ctr & CTR_AUXDIS).toBe(0);
    expect(drain()).toEqual([0xfa, 0x00]);
  });

  it('raises no IRQ 1 while the keyboard port is disabled, even for a controller reply', () => {
    const { cmd, data, status, events, drain } = kbc();
    cmd(0x60); data(CTR_KBDINT | CTR_KBDDIS | CTR_XLATE);
    cmd(0x20);
    expect(status() & STATUS_OBF).toBe(STATUS_OBF);
    expect(events).toEqual([]);
    expect(drain()).toEqual([CTR_KBDINT | CTR_KBDDIS | CTR_XLATE]);
  });
});

describe('PS/2 keyboard and mouse command sets (QEMU ps2.c)', () => {
  it('keyboard: scan code set get/set, unknown commands, 0x00/0x05, make/break', () => {
    const { k, cmd, data, drain } = kbc();
    /** A command and its argument, each ACK read before the next byte (as libps2 does). */
    const send = (...bytes: number[]) => bytes.flatMap((b) => { data(b); return drain(); });
    expect(send(0xf0, 0x00)).toEqual([0xfa, 0xfa, 0x41]); // set 2, translated
    expect(send(0xf0, 0x01)).toEqual([0xfa, 0xfa]);
    expect(send(0xf0, 0x00)).toEqual([0xfa, 0xfa, 0x43]); // set 1, translated
    expect(send(0xf0, 0x03, 0xf0, 0x00)).toEqual([0xfa, 0xfa, 0xfa, 0xfa, 0x3f]);
    cmd(0x60); data(k.ctr & ~CTR_XLATE);
    expect(send(0xf0, 0x00)).toEqual([0xfa, 0xfa, 0x03]); // untranslated: the set's number
    expect(send(0xf0, 0x07)).toEqual([0xfa, 0xfe]);
    expect(send(0xff)).toEqual([0xfa, 0xaa]); // reset: set 2 again
    expect(send(0xf0, 0x00)).toEqual([0xfa, 0xfa, 0x02]);
    expect(send(0xf7)).toEqual([0xfe]);
    expect(send(0x00)).toEqual([0xfa]);
    expect(send(0x05)).toEqual([0xfe]);
    expect(send(0xfc, 0x1c)).toEqual([0xfa, 0xfa]);
  });

  it('keyboard: a new command drops the replies of the last one that were not read', () => {
    const { data, drain } = kbc();
    data(0xf2); // FA AB 41, none read
    data(0xf4);
    expect(drain()).toEqual([0xfa]);
  });

  it('mouse: status follows enable, remote, scaling, resolution and rate; reset restores it', () => {
    const { cmd, aux, drain } = linuxKbc();
    cmd(0xa8);
    aux(0xf4); aux(0xe9); expect(drain()).toEqual([0xfa, 0xfa, 0x20, 0x02, 0x64]);
    aux(0xe7); aux(0xf0); aux(0xe8); aux(0x03); aux(0xf3); aux(40);
    aux(0xe9); expect(drain()).toEqual([0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0x70, 0x03, 40]);
    aux(0xea); aux(0xe6); aux(0xf5); aux(0xe9); expect(drain()).toEqual([0xfa, 0xfa, 0xfa, 0xfa, 0x00, 0x03, 40]);
    aux(0xf6); aux(0xe9); expect(drain()).toEqual([0xfa, 0xfa, 0x00, 0x02, 0x64]);
    aux(0xff); aux(0xe9); expect(drain()).toEqual([0xfa, 0xaa, 0x00, 0xfa, 0x00, 0x02, 0x64]);
  });

  it('mouse: the IntelliMouse knocks (rates 200,100,80 / 200,200,80) change the ID; reset clears it', () => {
    const { cmd, aux, drain } = linuxKbc();
    cmd(0xa8);
    for (const r of [200, 100, 80]) aux(0xf3), aux(r);
    aux(0xf2); expect(drain().slice(-2)).toEqual([0xfa, 0x03]);
    aux(0xeb); expect(drain()).toEqual([0xfa, 0x08, 0x00, 0x00, 0x00]); // poll: a 4-byte packet now
    for (const r of [200, 200, 80]) aux(0xf3), aux(r);
    aux(0xf2); expect(drain().slice(-2)).toEqual([0xfa, 0x04]);
    aux(0xff); expect(drain()).toEqual([0xfa, 0xaa, 0x00]);
    aux(0xf2); expect(drain()).toEqual([0xfa, 0x00]);
    aux(0xeb); expect(drain()).toEqual([0xfa, 0x08, 0x00, 0x00]);
  });

  it('mouse: wrap mode echoes bytes until 0xEC; 0xFF still resets, and leaves wrap mode', () => {
    const { cmd, aux, drain } = linuxKbc();
    cmd(0xa8);
    aux(0xee); expect(drain()).toEqual([0xfa]);
    aux(0x12); aux(0xf2); expect(drain()).toEqual([0x12, 0xf2]);
    aux(0xec); expect(drain()).toEqual([0xfa]);
    aux(0xf2); expect(drain()).toEqual([0xfa, 0x00]);
    aux(0xee); expect(drain()).toEqual([0xfa]);
    aux(0xff); expect(drain()).toEqual([0xfa, 0xaa, 0x00]);
    aux(0x12); expect(drain()).toEqual([0xfe]); // out of wrap mode: not a command (a mouse's resend)
  });
});
