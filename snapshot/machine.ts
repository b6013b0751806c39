/**
 * The rules that make a machine here (a `Pc`, or a `Host` with its VMs) a snapshot:
 * which fields are configuration or outputs the build makes again, and what is put
 * back in order after loading. They name classes and fields: this layer sits above the
 * machines without the machines knowing it.
 */
import { GraphRules } from './graph';
import { Eeprom93c46 } from '../devices/eeprom93c46';
import { Flow, SeenNumbers } from '../devices/net/wire';

export const MACHINE_RULES: GraphRules = {
  skipFields: new Set([
    // The options a machine was built from (images, initrd, callbacks): the build's stand.
    'Pc.options', '*.opts',
    // Outputs a run writes where its own command line says.
    '*.trace', '*.traceKinds', '*.timeline', 'Wire.pcap', 'Cpu.tracer',
    // How to run, not what the guest sees: a restored run may choose otherwise.
    'Cpu.useTranslator', 'Cpu.useWasm',
    // Orders of the clock's queue, rebuilt from the timers (Clock.requeue).
    'Clock.heap', 'Clock.timers',
  ]),
  // Where the running VM, the card's owner and the like are: pointers, not places.
  refFields: new Set(['Host.running', 'Host.cur', 'VpioMonitor.owner']),
  // The objects a run makes as it goes, holding no wiring: a card's EEPROM in a context
  // the VPIO monitor saved for a guest that does not own the card; the sink's flows.
  // (Every class here is made with `new` outside a constructor; the tests restore runs
  // that have made each.)
  dataClasses: new Map<string, abstract new (...args: never[]) => unknown>([['Eeprom93c46', Eeprom93c46], ['Flow', Flow], ['SeenNumbers', SeenNumbers]]),
  // Translated code and the output files: caches and sinks, never what the guest sees.
  keepClasses: new Set(['BlockCache', 'WasmContext', 'PcapWriter', 'Timeline']),
  // After loading: the clock's queue in order again; the caches a CPU keeps in the
  // memory that was loaded over them made again (Cpu.memoryLoaded).
  afterLoad: new Map<string, (o: any) => void>([
    ['Clock', (c: { requeue(): void }) => c.requeue()],
    ['Cpu', (c: { memoryLoaded(): void }) => c.memoryLoaded()],
  ]),
};
