import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { CommonError } from "../util/errors.ts";
import { ConfigError } from "./errors.ts";
import { type ClusterConfig, ClusterSchema } from "./schema.ts";

/** `["chains", 1, "reorgMax"]` → `chains[1].reorgMax`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out === "" ? "(top level)" : out;
}

function describeInput(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  return String(v);
}

// Messages for issues the schema has no message of its own for.
const errorMap: z.core.$ZodErrorMap = (iss) => {
  if (iss.code === "invalid_type") {
    if (iss.input === undefined) return "required";
    return `expected ${iss.expected}, got ${describeInput(iss.input)}`;
  }
  if (iss.code === "invalid_value") return `expected one of ${iss.values.map((v) => String(v)).join(", ")}`;
  return undefined;
};

/** One line per problem: `key.path: what is wrong`. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const lines: string[] = [];
  for (const iss of issues) {
    if (iss.code === "unrecognized_keys") {
      for (const k of iss.keys) lines.push(`${formatPath([...iss.path, k])}: unknown key`);
    } else {
      lines.push(`${formatPath(iss.path)}: ${iss.message}`);
    }
  }
  return lines;
}

/**
 * Validates a parsed configuration (e.g. from YAML). Throws `CONFIG_INVALID` listing every problem,
 * each naming its key (`chains[1].reorgMax: expected a positive integer`), in `meta.problems`.
 */
export function parseConfig(data: unknown, source = "configuration"): ClusterConfig {
  const res = ClusterSchema.safeParse(data ?? {}, { error: errorMap, reportInput: true });
  if (res.success) return res.data;
  const problems = formatIssues(res.error.issues);
  throw new CommonError("CONFIG_INVALID", `${source} is invalid:\n  ${problems.join("\n  ")}`, {
    source,
    problems,
  });
}

/** Relative directories in the file are relative to the file's own directory. */
function resolvePaths(cfg: ClusterConfig, base: string): ClusterConfig {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  if (cfg.store?.type === "fs") cfg.store.dir = abs(cfg.store.dir);
  if (cfg.bus?.type === "fs" && cfg.bus.dir !== undefined) cfg.bus.dir = abs(cfg.bus.dir);
  for (const n of cfg.nodes) {
    if (n.role === "reader" || n.role === "archiver") for (const c of n.chains) c.dataDir = abs(c.dataDir);
  }
  return cfg;
}

/**
 * Reads, parses (YAML) and validates a cluster configuration file. Throws `CONFIG_UNREADABLE`,
 * `CONFIG_SYNTAX` (with line and column) or `CONFIG_INVALID` (every problem, by key).
 */
export function loadConfig(file: string): ClusterConfig {
  let textContent: string;
  try {
    textContent = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(
      "CONFIG_UNREADABLE",
      `cannot read ${file}: ${(err as Error).message}`,
      { file },
      { cause: err },
    );
  }
  const doc = parseDocument(textContent, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => {
      const at = e.linePos?.[0];
      return `${at ? `line ${at.line}, column ${at.col}: ` : ""}${e.message.split("\n")[0]}`;
    });
    throw new ConfigError("CONFIG_SYNTAX", `${file} is not valid YAML:\n  ${problems.join("\n  ")}`, {
      file,
      problems,
    });
  }
  return resolvePaths(parseConfig(doc.toJS(), file), dirname(resolve(file)));
}
