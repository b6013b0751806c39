/** PCI configuration mechanism #1 and the type-0 header (PCI Local Bus Specification 3.0, 3.2.2.3.2 and 6). */
import { PciHost, PciFunction, addI440fxChipset, CMD_IO, CMD_BUS_MASTER } from './pci';

function host() {
  const h = new PciHost();
  addI440fxChipset(h);
  const nic = new PciFunction('nic', { vendor: 0x10ec, device: 0x8139, revision: 0x10, classCode: 0x020000, interruptPin: 1 },
    [{ size: 256, io: true }, { size: 256, io: false }]);
  h.add(3, 0, nic);
  const cfg = (dev: number, func: number, reg: number) => h.write(0xcf8, 4, (0x80000000 | (dev << 11) | (func << 8) | reg) >>> 0);
  return { h, nic, cfg };
}

describe('PCI host (mechanism #1)', () => {
  it('reads vendor/device, class and header type through 0xCF8/0xCFC', () => {
    const { h, cfg } = host();
    cfg(0, 0, 0x00);
    expect(h.read(0xcfc, 4)).toBe(0x12378086);
    cfg(1, 0, 0x0c);
    expect(h.read(0xcfe, 1)).toBe(0x80); // PIIX3 is multi-function
    cfg(1, 1, 0x08);
    expect(h.read(0xcfc, 4) >>> 8).toBe(0x010180);
    expect(h.read(0xcf8, 4)).toBe((0x80000000 | (1 << 11) | (1 << 8) | 0x08) >>> 0);
  });

  it('answers all ones where there is no function, on other buses, and with the enable bit clear', () => {
    const { h, cfg } = host();
    cfg(7, 0, 0);
    expect(h.read(0xcfc, 4)).toBe(0xffffffff);
    h.write(0xcf8, 4, 0x80010000); // bus 1
    expect(h.read(0xcfc, 2)).toBe(0xffff);
    h.write(0xcf8, 4, 0x00000000); // enable clear
    expect(h.read(0xcfc, 4)).toBe(0xffffffff);
  });

  it('serves byte and word accesses at CONFIG_DATA + 1..3', () => {
    const { h, cfg } = host();
    cfg(3, 0, 0x00);
    expect(h.read(0xcfc, 1)).toBe(0xec);
    expect(h.read(0xcfd, 1)).toBe(0x10);
    expect(h.read(0xcfe, 2)).toBe(0x8139);
  });

  it('sizes BARs: all ones reads back the size mask with the I/O or memory type bits', () => {
    const { h, nic, cfg } = host();
    cfg(3, 0, 0x10);
    h.write(0xcfc, 4, 0xffffffff);
    expect(h.read(0xcfc, 4)).toBe(0xffffff01); // 256-byte I/O
    cfg(3, 0, 0x14);
    h.write(0xcfc, 4, 0xffffffff);
    expect(h.read(0xcfc, 4)).toBe(0xffffff00); // 256-byte memory, 32-bit, not prefetchable
    cfg(3, 0, 0x10);
    h.write(0xcfc, 4, 0xc001);
    expect(nic.barAddress(0)).toBe(0xc000);
    cfg(3, 0, 0x18);
    h.write(0xcfc, 4, 0xffffffff);
    expect(h.read(0xcfc, 4)).toBe(0); // unimplemented BAR
  });

  it('keeps the command register\'s I/O and bus-master bits and reports changes', () => {
    const { h, nic, cfg } = host();
    let changes = 0;
    nic.onMappingChange = () => changes++;
    cfg(3, 0, 0x04);
    h.write(0xcfc, 2, CMD_IO | CMD_BUS_MASTER);
    expect(nic.ioEnabled && nic.busMaster).toBe(true);
    expect(changes).toBe(1);
    h.write(0xcfc, 2, 0);
    expect(nic.busMaster).toBe(false);
  });

  it('makes the interrupt line writable and the pin read-only', () => {
    const { h, cfg } = host();
    cfg(3, 0, 0x3c);
    h.write(0xcfc, 2, 0xff0b);
    expect(h.read(0xcfc, 1)).toBe(0x0b);
    expect(h.read(0xcfd, 1)).toBe(0x01);
  });

  it('ignores writes to read-only identity registers', () => {
    const { h, cfg } = host();
    cfg(0, 0, 0x00);
    h.write(0xcfc, 4, 0xdeadbeef);
    expect(h.read(0xcfc, 4)).toBe(0x12378086);
  });
});
