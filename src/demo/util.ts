import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { killOnExit } from "../util/children.ts";
import type { Logger } from "../util/logger.ts";

const BIN = fileURLToPath(new URL("../../bin/chainkeep.js", import.meta.url));

/** GETs `url` (or POSTs `body` as JSON) and returns the parsed answer; 2 s at most. */
export async function fetchJson(url: string, body?: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method: body ? "POST" : "GET",
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(2000),
  });
  return res.json();
}

/**
 * The environment of the demo's child processes: this one's without `CHAINKEEP_*` settings (the
 * demo passes each child its own flags and configuration file; a `CHAINKEEP_RPC_PORT` meant for
 * the demo must not reach them), with the log level (default warn).
 */
export function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("CHAINKEEP_")) env[k] = v;
  env.CHAINKEEP_LOG_LEVEL = process.env.CHAINKEEP_LOG_LEVEL ?? "warn";
  return env;
}

/**
 * Returns a function that starts `chainkeep <args>` as a demo component: its stderr lines go to
 * `logger` at warn under the component's name, an exit before `abort` is logged as an error, and
 * the process joins `children` and is killed when this one exits.
 */
export function componentStarter(deps: {
  logger: Logger;
  abort: AbortSignal;
  children: ChildProcess[];
}): (name: string, args: string[]) => ChildProcess {
  return (name, args) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      env: childEnv(),
    });
    child.stderr?.on("data", (d: Buffer) => {
      for (const line of d.toString().split("\n"))
        if (line.trim()) deps.logger.warn({ component: name }, line.slice(0, 500));
    });
    child.on("exit", (code, signal) => {
      if (!deps.abort.aborted) deps.logger.error({ component: name, code, signal }, "component exited");
    });
    deps.children.push(child);
    killOnExit(child);
    return child;
  };
}

/**
 * Prints the demo's status lines: redrawn in place on a terminal, otherwise joined on one line
 * every 5 s at most.
 */
export function statusPrinter(out: NodeJS.WriteStream): (lines: string[]) => void {
  let printed = 0;
  let lastPlain = 0;
  return (lines) => {
    if (out.isTTY) {
      if (printed) out.write(`\x1b[${printed}A`);
      for (const l of lines) out.write(`\x1b[2K${l}\n`);
      printed = lines.length;
    } else if (Date.now() - lastPlain > 5000) {
      out.write(`${new Date().toISOString()} ${lines.join(" | ")}\n`);
      lastPlain = Date.now();
    }
  };
}
