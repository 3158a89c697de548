/**
 * Compiles `contracts/*.sol` with the `solc` npm package and writes `src/demo/contracts.json`:
 * `{ [contractName]: { abi, bytecode, deployedBytecode } }`.
 *
 * Usage: `npm run contracts`. The output is committed, so tests and the demo need no compiler.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";

/** EVM version the contracts target; anvil's default (latest) hardfork runs it. */
const EVM_VERSION = "prague";
/** Optimizer runs. */
const OPTIMIZER_RUNS = 200;

const root = fileURLToPath(new URL("..", import.meta.url));
const srcDir = join(root, "contracts");
const outFile = join(root, "src", "demo", "contracts.json");

interface SolcOutput {
  errors?: { severity: "error" | "warning" | "info"; formattedMessage: string }[];
  contracts?: Record<
    string,
    Record<
      string,
      { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }
    >
  >;
}

const files = readdirSync(srcDir)
  .filter((f) => f.endsWith(".sol"))
  .sort();
const input = {
  language: "Solidity",
  sources: Object.fromEntries(files.map((f) => [f, { content: readFileSync(join(srcDir, f), "utf8") }])),
  settings: {
    evmVersion: EVM_VERSION,
    optimizer: { enabled: true, runs: OPTIMIZER_RUNS },
    // No CBOR metadata hash: the bytecode then depends only on the source text and settings.
    metadata: { bytecodeHash: "none", appendCBOR: false },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOutput;
const errors = (output.errors ?? []).filter((e) => e.severity === "error");
for (const e of output.errors ?? []) {
  if (e.severity !== "error" && !e.formattedMessage.includes("selfdestruct"))
    console.warn(e.formattedMessage);
}
if (errors.length > 0) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}

const artifacts: Record<string, { abi: unknown[]; bytecode: string; deployedBytecode: string }> = {};
for (const file of files) {
  for (const [name, c] of Object.entries(output.contracts?.[file] ?? {})) {
    if (c.evm.bytecode.object.length === 0) continue; // interfaces
    if (artifacts[name]) {
      console.error(`duplicate contract name ${name}`);
      process.exit(1);
    }
    artifacts[name] = {
      abi: c.abi,
      bytecode: `0x${c.evm.bytecode.object}`,
      deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
    };
  }
}
const sorted = Object.fromEntries(Object.entries(artifacts).sort(([a], [b]) => a.localeCompare(b)));
writeFileSync(outFile, `${JSON.stringify(sorted, null, 2)}\n`);
console.log(`solc ${solc.version()}: wrote ${Object.keys(sorted).join(", ")} to ${outFile}`);
