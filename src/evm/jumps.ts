/**
 * A cache of ethereumjs' jump-destination analysis, per code.
 *
 * Before running code that contains a JUMP, ethereumjs' interpreter scans the whole code once per
 * call frame (`Interpreter._getValidJumpDestinations`): valid JUMPDESTs, every PUSH immediate as a
 * bigint, the opcode of every byte. For a token contract that is about a tenth of an `eth_call`.
 * The result depends only on the code bytes and the EVM's opcode table and is never written to,
 * so it is kept per (opcode table, code bytes) object — code comes from the shared code cache in
 * `state.ts`, so the same contract is the same `Uint8Array` across requests.
 *
 * The interpreter is not part of `@ethereumjs/evm`'s public exports: the module is loaded by path
 * next to the package's entry point, and when the method is not there (another ethereumjs
 * version), nothing is patched and the EVM runs as it comes.
 */

type Analysis = { jumps: Uint8Array; pushes: Record<number, bigint>; opcodesCached: unknown[] };
type Analyse = (this: InterpreterLike, code: Uint8Array) => Analysis;
interface InterpreterLike {
  _evm: { _opcodeMap?: object };
}

/** Whether the analysis cache is installed (for tests and diagnostics). */
export let jumpCacheInstalled = false;

async function install(): Promise<void> {
  let proto: { _getValidJumpDestinations?: Analyse } | undefined;
  try {
    const entry = import.meta.resolve("@ethereumjs/evm");
    const mod = (await import(new URL("./interpreter.js", entry).href)) as {
      Interpreter?: { prototype: { _getValidJumpDestinations?: Analyse } };
    };
    proto = mod.Interpreter?.prototype;
  } catch {
    return;
  }
  const original = proto?._getValidJumpDestinations;
  if (proto === undefined || typeof original !== "function") return;
  const byTable = new WeakMap<object, WeakMap<Uint8Array, Analysis>>();
  proto._getValidJumpDestinations = function (this: InterpreterLike, code: Uint8Array): Analysis {
    const table = this._evm._opcodeMap;
    if (table === undefined) return original.call(this, code);
    let cache = byTable.get(table);
    if (cache === undefined) {
      cache = new WeakMap();
      byTable.set(table, cache);
    }
    let hit = cache.get(code);
    if (hit === undefined) {
      hit = original.call(this, code);
      cache.set(code, hit);
    }
    return hit;
  };
  jumpCacheInstalled = true;
}

await install();
