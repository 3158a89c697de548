/**
 * The layout of `src/` as ARCHITECTURE.md draws it: every import under `src/` (type-only ones
 * included) is read, and the test fails on a cycle between components, on an import into another
 * component's files other than its `index.ts` (folders of leaf helpers without one, like `util/`,
 * are exempt), and on any edge of the "never" table in ARCHITECTURE.md.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SRC = join(ROOT, "src");

/** One import: from a file to a file under `src/`, and whether it brings types only. */
interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** The module specifiers a source file imports or re-exports, static and dynamic. */
export function importsOf(text: string): { spec: string; typeOnly: boolean }[] {
  // Doc comments hold examples; strings hold URLs with "//" in them: strip comments only where
  // they start a line or a block.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: { spec: string; typeOnly: boolean }[] = [];
  for (const m of code.matchAll(
    /(?:^|[;\n])\s*(?:import|export)\s+(type\s+)?[^'";]*?\bfrom\s*["']([^"']+)["']/g,
  )) {
    out.push({ spec: m[2] as string, typeOnly: m[1] !== undefined });
  }
  for (const m of code.matchAll(/(?:^|[;\n])\s*import\s*["']([^"']+)["']/g))
    out.push({ spec: m[1] as string, typeOnly: false });
  for (const m of code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g))
    out.push({ spec: m[1] as string, typeOnly: false });
  return out;
}

/** Every import between files under `src/` (packages and `node:` modules left out). */
function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of filesUnder(SRC)) {
    for (const { spec, typeOnly } of importsOf(readFileSync(file, "utf8"))) {
      if (!spec.startsWith(".")) continue;
      out.push({ from: relative(SRC, file), to: relative(SRC, resolve(dirname(file), spec)), typeOnly });
    }
  }
  return out;
}

/** The component of a path under `src/`: its first folder. */
const componentOf = (path: string) => path.split("/")[0] as string;

/** The components: the folders of `src/`. */
const COMPONENTS = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory());

/** Components whose public surface is an `index.ts`; the others are folders of leaf helpers. */
const WITH_INDEX = new Set(COMPONENTS.filter((c) => existsSync(join(SRC, c, "index.ts"))));

/** A rule of the "never" table: components in `from` never import those in `never`. */
interface Never {
  from: string[];
  never: string[];
  /** Imports of these components that are allowed when they bring types only. */
  typesOnly: string[];
  row: string;
}

/**
 * The "never" table of ARCHITECTURE.md (under the heading "What never imports what"): each row
 * names components as `name/`, "every component", or "every component but `x/`"; its second
 * cell the components they never import; a third cell may name components allowed for types only.
 */
function neverTable(): Never[] {
  const doc = readFileSync(join(ROOT, "ARCHITECTURE.md"), "utf8");
  const at = doc.indexOf("What never imports what");
  assert.ok(at >= 0, 'ARCHITECTURE.md has no "What never imports what" table');
  const rows = doc
    .slice(at)
    .split("\n")
    .filter((l) => l.startsWith("|"))
    .slice(2);
  const names = (cell: string) => [...cell.matchAll(/`([a-z]+)\/`/g)].map((m) => m[1] as string);
  const out: Never[] = [];
  for (const row of rows) {
    const [, who = "", never = "", types = ""] = row.split("|").map((c) => c.trim());
    if (who === "") break;
    const from = /every component/.test(who)
      ? COMPONENTS.filter((c) => !(/\bbut\b/.test(who) && names(who).includes(c)))
      : names(who);
    const target = /every other component/.test(never)
      ? COMPONENTS.filter((c) => !from.includes(c))
      : names(never);
    out.push({ from, never: target, typesOnly: names(types), row });
  }
  return out;
}

describe("architecture: imports under src/", () => {
  const all = edges();
  const between = all.filter((e) => componentOf(e.from) !== componentOf(e.to));

  test("the importer finds every kind of import", () => {
    const found = importsOf(
      [
        'import { a } from "./a.ts";',
        'import type { B } from "../b/index.ts";',
        "import {\n  c,\n  type D,\n} from './c.ts';",
        'export { e } from "./e.ts";',
        'export type { F } from "./f.ts";',
        'import "./g.ts";',
        'const h = await import("../h/index.ts");',
        '/** import { x } from "./not-this.ts" */',
        '  // import { y } from "./nor-this.ts";',
        'const url = "http://example.com/x"; import { i } from "./i.ts";',
      ].join("\n"),
    );
    assert.deepEqual(
      found.map((f) => `${f.spec}${f.typeOnly ? " (types)" : ""}`),
      [
        "./a.ts",
        "../b/index.ts (types)",
        "./c.ts",
        "./e.ts",
        "./f.ts (types)",
        "./i.ts",
        "./g.ts",
        "../h/index.ts",
      ],
    );
    assert.ok(all.length > 300, `imports read: ${all.length}`);
  });

  test("every import names an existing file", () => {
    const missing = all.filter((e) => !existsSync(join(SRC, e.to))).map((e) => `${e.from} → ${e.to}`);
    assert.deepEqual(missing, []);
  });

  test("no cycle between components", () => {
    const graph = new Map<string, Set<string>>();
    for (const e of between) {
      const from = componentOf(e.from);
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)?.add(componentOf(e.to));
    }
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const visit = (c: string, path: string[]) => {
      if (state.get(c) === "done") return;
      if (state.get(c) === "open") {
        cycles.push([...path.slice(path.indexOf(c)), c].join(" → "));
        return;
      }
      state.set(c, "open");
      for (const d of graph.get(c) ?? []) visit(d, [...path, c]);
      state.set(c, "done");
    };
    for (const c of graph.keys()) visit(c, []);
    assert.deepEqual(cycles, []);
  });

  test("another component is imported through its index.ts only", () => {
    const deep = between
      .filter((e) => WITH_INDEX.has(componentOf(e.to)) && e.to !== `${componentOf(e.to)}/index.ts`)
      .map((e) => `${e.from} → ${e.to}`);
    assert.deepEqual(deep, []);
  });

  test('no edge of ARCHITECTURE.md\'s "never" table', () => {
    const rules = neverTable();
    assert.ok(rules.length >= 5, "the table has its rows");
    const broken: string[] = [];
    for (const e of between) {
      const from = componentOf(e.from);
      const to = componentOf(e.to);
      for (const r of rules) {
        if (!r.from.includes(from) || !r.never.includes(to)) continue;
        if (e.typeOnly && r.typesOnly.includes(to)) continue;
        broken.push(`${e.from} → ${e.to} (${r.row})`);
      }
    }
    assert.deepEqual(broken, []);
  });

  test("library code throws a component's error class: never the abstract base, nor a plain Error", () => {
    const raw = filesUnder(SRC)
      .filter((f) => !f.includes("/cli/") && /new (ChainkeepError|Error)\(/.test(readFileSync(f, "utf8")))
      .map((f) => relative(SRC, f));
    assert.deepEqual(raw, []);
  });
});
