/**
 * The part of the WebAssembly JavaScript API (WebAssembly JS Interface, section 5) this
 * project uses, which Node provides as a global. TypeScript declares it only in its DOM
 * library, which would also declare a browser's globals (window, document) here.
 */
declare namespace WebAssembly {
  type ImportValue = ((...args: never[]) => unknown) | Memory | Table | number;
  type ModuleImports = Record<string, ImportValue>;
  type Imports = Record<string, ModuleImports>;
  type Exports = Record<string, unknown>;
  class Module {
    constructor(bytes: Uint8Array | ArrayBuffer);
  }
  class Instance {
    constructor(module: Module, imports?: Imports);
    readonly exports: Exports;
  }
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number });
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  class Table {
    constructor(descriptor: { element: 'anyfunc'; initial: number; maximum?: number });
    readonly length: number;
    grow(delta: number): number;
    set(index: number, value: ((...args: never[]) => unknown) | null): void;
  }
  function validate(bytes: Uint8Array | ArrayBuffer): boolean;
}
