/**
 * v86 (the npm package), loaded the way the benches that run it beside ours need it:
 * its constructor, its WebAssembly file and Debian's SeaBIOS, or why it cannot run here.
 */
import * as fs from 'fs';
import * as path from 'path';

export const SEABIOS = '/usr/share/seabios/bios.bin';

export interface V86Setup {
  // The package has no types; its constructor takes v86's options object.
  V86: any;
  wasm: string;
  /** SeaBIOS's image, as v86 takes it ({ buffer }). */
  bios: { buffer: ArrayBuffer };
}

/** v86's pieces, or a reason the bench prints in place of its figures. */
export async function loadV86(): Promise<V86Setup | string> {
  if (!fs.existsSync(SEABIOS)) return `no ${SEABIOS} (apt-get install seabios)`;
  let V86: any;
  try {
    // v86 is an ES module; import it at run time (esbuild leaves it external).
    V86 = (await import('v86')).V86;
  } catch (e) {
    return `cannot load the v86 package (${(e as Error).message})`;
  }
  const wasm = path.join(path.dirname(require.resolve('v86/package.json')), 'build', 'v86.wasm');
  const b = fs.readFileSync(SEABIOS);
  return { V86, wasm, bios: { buffer: b.buffer.slice(b.byteOffset, b.byteOffset + b.length) } };
}
